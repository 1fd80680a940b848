"""The versioned service catalog, loaded from ``data/service_catalog.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

SERVICE_LINES = ("CRO", "CMO", "CDMO")


@dataclass(frozen=True)
class ServiceEntry:
    code: str
    name: str
    stage: str
    service_line: str


@dataclass(frozen=True)
class ServiceCatalog:
    version: str
    stages: dict[str, str]
    entries: tuple[ServiceEntry, ...]

    def get(self, code: str) -> ServiceEntry | None:
        return next((e for e in self.entries if e.code == code), None)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(e.code for e in self.entries)


@lru_cache(maxsize=1)
def service_catalog() -> ServiceCatalog:
    text = resources.files("opencxo.parties").joinpath("data/service_catalog.yaml").read_text()
    raw = yaml.safe_load(text)
    entries = tuple(ServiceEntry(**entry) for entry in raw["entries"])
    stages = dict(raw["stages"])
    for entry in entries:
        if entry.stage not in stages or entry.service_line not in SERVICE_LINES:
            raise ValueError(f"service catalog entry {entry.code} has a bad stage or service line")
    if len({e.code for e in entries}) != len(entries):
        raise ValueError("service catalog codes must be unique")
    return ServiceCatalog(version=str(raw["version"]), stages=stages, entries=entries)
