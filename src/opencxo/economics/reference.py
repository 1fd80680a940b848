"""Published reference data, loaded from ``docs/reference/`` with its citation.

The files, their sources and confidence are listed in ``docs/reference/README.md``. Set
``OPENCXO_REFERENCE_DIR`` to read them from elsewhere (an installed copy, a test fixture).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import yaml
from pydantic import BaseModel, ConfigDict, Field

from opencxo.core.errors import NotFound, OpenCXOError
from opencxo.economics.engine.cost import CostInputs, Phase, loa

REFERENCE_DIR_ENV = "OPENCXO_REFERENCE_DIR"
ALL_INDICATIONS = "all_indications"
PHASE_SUCCESS_FILE = "bio-2011-2020-phase-success.csv"
PHASE_DURATIONS_FILE = "bio-2011-2020-phase-durations.csv"
LOSS_OF_EXCLUSIVITY_FILE = "loss-of-exclusivity.yaml"
COST_PRESET_FILES: Mapping[str, str] = MappingProxyType({"dimasi2016": "dimasi-2016.yaml"})


class UnknownReference(NotFound):
    """A preset, area or curve the reference data does not hold; the message lists the known."""


class ReferenceDataError(OpenCXOError):
    """A reference file is missing or malformed."""


def reference_dir() -> Path:
    """The directory holding the reference files (``OPENCXO_REFERENCE_DIR`` or the checkout's)."""
    override = os.environ.get(REFERENCE_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "docs" / "reference"


def _path(name: str) -> Path:
    path = reference_dir() / name
    if not path.is_file():
        raise ReferenceDataError(
            f"reference file {path} not found; run from a checkout or set {REFERENCE_DIR_ENV}"
        )
    return path


def _unknown(kind: str, name: str, known: tuple[str, ...]) -> UnknownReference:
    return UnknownReference(f"unknown {kind} {name!r}; known: {', '.join(known)}")


# --- DiMasi-style cost presets ----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _PresetPhase(_Strict):
    name: str
    cost_per_entrant_musd: float = Field(ge=0)
    transition_probability: float = Field(gt=0, le=1)
    start_offset_months: float = Field(ge=0)
    length_months: float = Field(gt=0)


class _Preclinical(_Strict):
    cost_per_approval_musd: float = Field(ge=0)
    period_months: float = Field(gt=0)


class _PresetFile(_Strict):
    name: str
    source: str
    confidence: str
    currency: str
    discount_rate: float = Field(ge=0, le=1)
    time_to_approval_months: float = Field(gt=0)
    preclinical: _Preclinical
    phases: list[_PresetPhase] = Field(min_length=1)
    published_musd: dict[str, float] = Field(default_factory=dict)


@dataclass(frozen=True)
class CostPreset:
    """Inputs of a published cost-per-approval study, with the figures it reported."""

    name: str
    inputs: CostInputs
    citation: str
    confidence: str
    currency: str
    published_musd: Mapping[str, float]


def cost_preset_names() -> tuple[str, ...]:
    return tuple(COST_PRESET_FILES)


def cost_preset(name: str) -> CostPreset:
    """The named preset (``dimasi2016``) as engine inputs plus its citation.

    Raises
    ------
    UnknownReference
        If no preset has that name.
    """
    file_name = COST_PRESET_FILES.get(name)
    if file_name is None:
        raise _unknown("preset", name, cost_preset_names())
    return _load_cost_preset(_path(file_name))


@lru_cache(maxsize=8)
def _load_cost_preset(path: Path) -> CostPreset:
    data = _PresetFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    try:
        inputs = CostInputs(
            phases=tuple(Phase(**phase.model_dump()) for phase in data.phases),
            preclinical_cost_per_approval_musd=data.preclinical.cost_per_approval_musd,
            preclinical_period_months=data.preclinical.period_months,
            time_to_approval_months=data.time_to_approval_months,
            discount_rate=data.discount_rate,
        )
    except ValueError as exc:
        raise ReferenceDataError(f"{path.name}: {exc}") from None
    return CostPreset(
        name=data.name,
        inputs=inputs,
        citation=data.source,
        confidence=data.confidence,
        currency=data.currency,
        published_musd=MappingProxyType(dict(data.published_musd)),
    )


# --- BIO / Informa / QLS 2011–2020 -------------------------------------------------------------


@dataclass(frozen=True)
class PhaseSuccess:
    """Phase transition probabilities of one therapeutic area, as fractions."""

    area: str
    p1_to_p2: float
    p2_to_p3: float
    p3_to_nda: float
    nda_to_approval: float
    published_loa: float
    citation: str

    @property
    def probabilities(self) -> tuple[float, float, float, float]:
        return (self.p1_to_p2, self.p2_to_p3, self.p3_to_nda, self.nda_to_approval)

    @property
    def loa(self) -> float:
        """Likelihood of approval from Phase I: the product of the four transitions."""
        return loa(self.probabilities)


@dataclass(frozen=True)
class PhaseDurations:
    """Mean phase durations of one therapeutic area [years]."""

    area: str
    phase1_years: float
    phase2_years: float
    phase3_years: float
    regulatory_years: float
    total_years: float
    citation: str


def _read_csv(path: Path) -> tuple[str, list[dict[str, str]]]:
    """The ``# source:`` comment and the rows of a commented CSV file."""
    citation = ""
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            if text.lower().startswith("source:") and not citation:
                citation = text.split(":", 1)[1].strip()
        elif line.strip():
            lines.append(line)
    if not citation:
        raise ReferenceDataError(f"{path.name}: no '# source:' line")
    return citation, list(csv.DictReader(lines))


def _number(path: Path, row: Mapping[str, str], column: str) -> float:
    try:
        return float(row[column])
    except (KeyError, TypeError, ValueError):
        raise ReferenceDataError(
            f"{path.name}: area {row.get('area')!r}: column {column!r} = "
            f"{row.get(column)!r} is not a number"
        ) from None


@lru_cache(maxsize=8)
def _phase_success_table(path: Path) -> Mapping[str, PhaseSuccess]:
    citation, rows = _read_csv(path)
    table: dict[str, PhaseSuccess] = {}
    for row in rows:
        percent = {
            column: _number(path, row, column) / 100.0
            for column in ("p1_to_p2", "p2_to_p3", "p3_to_nda", "nda_to_approval", "loa_from_p1")
        }
        table[row["area"]] = PhaseSuccess(
            area=row["area"],
            p1_to_p2=percent["p1_to_p2"],
            p2_to_p3=percent["p2_to_p3"],
            p3_to_nda=percent["p3_to_nda"],
            nda_to_approval=percent["nda_to_approval"],
            published_loa=percent["loa_from_p1"],
            citation=citation,
        )
    return MappingProxyType(table)


@lru_cache(maxsize=8)
def _phase_durations_table(path: Path) -> Mapping[str, PhaseDurations]:
    citation, rows = _read_csv(path)
    return MappingProxyType(
        {
            row["area"]: PhaseDurations(
                area=row["area"],
                phase1_years=_number(path, row, "phase1"),
                phase2_years=_number(path, row, "phase2"),
                phase3_years=_number(path, row, "phase3"),
                regulatory_years=_number(path, row, "regulatory"),
                total_years=_number(path, row, "total"),
                citation=citation,
            )
            for row in rows
        }
    )


def phase_success_areas() -> tuple[str, ...]:
    return tuple(_phase_success_table(_path(PHASE_SUCCESS_FILE)))


def phase_duration_areas() -> tuple[str, ...]:
    return tuple(_phase_durations_table(_path(PHASE_DURATIONS_FILE)))


def phase_success(area: str = ALL_INDICATIONS) -> PhaseSuccess:
    """BIO 2011–2020 transition probabilities of ``area``.

    Raises
    ------
    UnknownReference
        If the report has no row for ``area``; the message lists the areas it has.
    """
    table = _phase_success_table(_path(PHASE_SUCCESS_FILE))
    if area not in table:
        raise _unknown("therapeutic area", area, tuple(table))
    return table[area]


def phase_durations(area: str = ALL_INDICATIONS) -> PhaseDurations:
    """BIO 2011–2020 mean phase durations of ``area`` (fewer areas than the probabilities).

    Raises
    ------
    UnknownReference
        If the report's duration table has no row for ``area``; the message lists the areas.
    """
    table = _phase_durations_table(_path(PHASE_DURATIONS_FILE))
    if area not in table:
        raise _unknown("therapeutic area for phase durations", area, tuple(table))
    return table[area]


# --- Loss of exclusivity ------------------------------------------------------------------------


class _CurveFile(_Strict):
    entry: str
    source: str
    confidence: str
    derivation: str
    brand_share_by_year: list[float] = Field(min_length=1)


@dataclass(frozen=True)
class ErosionCurve:
    """Originator net revenue after loss of exclusivity, as a share of pre-entry annual revenue.

    ``brand_share_by_year[k]`` is year ``k + 1`` after entry; later years keep the last value.
    """

    molecule_type: str
    entry: str
    brand_share_by_year: tuple[float, ...]
    citation: str
    confidence: str
    derivation: str

    def share_in_year(self, year: int) -> float:
        """Share in year ``year`` (1 = the first 12 months after entry)."""
        if year < 1:
            raise ValueError(f"year = {year} is below 1 (year 1 is the first after entry)")
        shares = self.brand_share_by_year
        return shares[min(year, len(shares)) - 1]


@lru_cache(maxsize=8)
def _erosion_curves(path: Path) -> Mapping[str, ErosionCurve]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not raw:
        raise ReferenceDataError(f"{path.name}: expected a mapping of molecule type to curve")
    curves: dict[str, ErosionCurve] = {}
    for kind, body in raw.items():
        data = _CurveFile.model_validate(body)
        for year, share in enumerate(data.brand_share_by_year, start=1):
            if not 0.0 <= share <= 1.0:
                raise ReferenceDataError(
                    f"{path.name}: {kind}.brand_share_by_year year {year} = {share} is outside [0, 1]"
                )
        curves[str(kind)] = ErosionCurve(
            molecule_type=str(kind),
            entry=data.entry,
            brand_share_by_year=tuple(data.brand_share_by_year),
            citation=" ".join(data.source.split()),
            confidence=data.confidence,
            derivation=data.derivation,
        )
    return MappingProxyType(curves)


def erosion_curves() -> Mapping[str, ErosionCurve]:
    """Every loss-of-exclusivity curve by molecule type (``small_molecule``, ``biologic``)."""
    return _erosion_curves(_path(LOSS_OF_EXCLUSIVITY_FILE))


def erosion_curve(molecule_type: str) -> ErosionCurve:
    """The loss-of-exclusivity curve of ``molecule_type``.

    Raises
    ------
    UnknownReference
        If there is no curve for it; the message lists the molecule types there are.
    """
    curves = erosion_curves()
    if molecule_type not in curves:
        raise _unknown("molecule type", molecule_type, tuple(curves))
    return curves[molecule_type]
