"""The files of ``opencxo clinical recover``: the offers (``OFFERS.csv``) and the optional cost
columns of ``SITES.csv``, turned into engine inputs.

``OFFERS.csv`` columns (one row per offer; money in one currency, the file's):

* ``offer_id`` — unique name of the offer, e.g. ``CZ-corvane``;
* ``country`` — where its sites are (optional ``region``; disruptions match on both);
* ``expected_rate_per_site_per_month`` (> 0), ``activation_lag_days`` (>= 0, days from the
  as-of date until a site opens), ``capacity_sites`` (1 to 1,000);
* ``startup_cost_per_site``, ``monthly_cost_per_site``, ``cost_per_patient`` (>= 0);
* optional ``name`` (for people) and ``currency`` (the same on every row).

``SITES.csv`` may carry ``monthly_cost`` and ``cost_per_patient`` for its sites: a site with a
cost may be closed by the plan, a site without one is kept. Row numbers in errors count the
header as row 1. Pure: the engine and the standard library only.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from opencxo.clinical.engine.fit import InputError
from opencxo.clinical.engine.recovery import CandidateOffer, SiteCost
from opencxo.clinical.sites_csv import SitesFileError

__all__ = [
    "OFFER_COLUMNS",
    "OfferTable",
    "parse_offers_csv",
    "parse_site_costs",
    "read_offers_csv",
    "read_site_costs",
]

OFFER_COLUMNS = (
    "offer_id",
    "country",
    "expected_rate_per_site_per_month",
    "activation_lag_days",
    "startup_cost_per_site",
    "monthly_cost_per_site",
    "cost_per_patient",
    "capacity_sites",
)
_NUMBERS = OFFER_COLUMNS[2:7]


@dataclass(frozen=True)
class OfferTable:
    offers: tuple[CandidateOffer, ...]
    names: dict[str, str]  # offer_id → name (the id when the file has no name)
    currency: str | None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SitesFileError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SitesFileError(f"{path} is not UTF-8 text") from None


def _rows(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    rows = []
    for number, row in enumerate(reader, start=2):
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if any(values.values()):
            rows.append((number, values))
    return header, rows


def _number(text: str, row: int, column: str, *, whole: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise SitesFileError(f"{text!r} is not {kind}", row=row, column=column) from None
    if not math.isfinite(value) or (whole and value != int(value)):
        kind = "a whole number" if whole else "a finite number"
        raise SitesFileError(f"{text!r} is not {kind}", row=row, column=column)
    return value


def parse_offers_csv(text: str) -> OfferTable:
    """Parse the text of an offers file.

    Raises
    ------
    SitesFileError
        A missing column, an empty or duplicate ``offer_id``, an empty ``country``, a value
        that is not a number or is out of its bounds, two currencies, no data row.
    """
    header, rows = _rows(text)
    missing = [c for c in OFFER_COLUMNS if c not in header]
    if missing:
        raise SitesFileError(f"missing column(s) {', '.join(missing)}", row=1)
    offers: list[CandidateOffer] = []
    names: dict[str, str] = {}
    currencies: set[str] = set()
    for number, values in rows:
        offer_id = values.get("offer_id", "")
        if not offer_id:
            raise SitesFileError("offer_id is empty", row=number, column="offer_id")
        if offer_id in names:
            raise SitesFileError(
                f"offer_id {offer_id!r} appears twice", row=number, column="offer_id"
            )
        country = values.get("country", "")
        if not country:
            raise SitesFileError("country is empty", row=number, column="country")
        numbers = {c: _number(values.get(c, ""), number, c) for c in _NUMBERS}
        capacity = _number(values.get("capacity_sites", ""), number, "capacity_sites", whole=True)
        if values.get("currency"):
            currencies.add(values["currency"].upper())
        try:
            offers.append(
                CandidateOffer(
                    offer_id=offer_id,
                    country=country,
                    region=values.get("region") or None,
                    expected_rate_per_site_per_month=numbers["expected_rate_per_site_per_month"],
                    activation_lag_days=numbers["activation_lag_days"],
                    startup_cost_per_site=numbers["startup_cost_per_site"],
                    monthly_cost_per_site=numbers["monthly_cost_per_site"],
                    cost_per_patient=numbers["cost_per_patient"],
                    capacity_sites=int(capacity),
                )
            )
        except InputError as exc:
            raise SitesFileError(
                f"{exc.value!r} {exc.bound}", row=number, column=exc.argument
            ) from None
        names[offer_id] = values.get("name") or offer_id
    if not offers:
        raise SitesFileError("no offer rows")
    if len(currencies) > 1:
        raise SitesFileError(
            f"one currency per file (found {', '.join(sorted(currencies))}): no exchange rates",
            column="currency",
        )
    return OfferTable(offers=tuple(offers), names=names, currency=next(iter(currencies), None))


def read_offers_csv(path: Path) -> OfferTable:
    """Read and parse an offers file (UTF-8, optional BOM)."""
    return parse_offers_csv(_read(path))


def parse_site_costs(text: str) -> tuple[SiteCost, ...]:
    """The ``monthly_cost`` and ``cost_per_patient`` of the sites of a sites file (sites with
    neither are left out: the plan keeps them); none when the file has neither column.

    Raises
    ------
    SitesFileError
        A cost that is not a number or is negative.
    """
    header, rows = _rows(text)
    if "monthly_cost" not in header and "cost_per_patient" not in header:
        return ()
    costs = []
    for number, values in rows:
        monthly_text = values.get("monthly_cost", "")
        patient_text = values.get("cost_per_patient", "")
        if not monthly_text and not patient_text:
            continue
        monthly = _number(monthly_text, number, "monthly_cost") if monthly_text else 0.0
        patient = _number(patient_text, number, "cost_per_patient") if patient_text else 0.0
        for column, value in (("monthly_cost", monthly), ("cost_per_patient", patient)):
            if value < 0:
                raise SitesFileError(f"{value:g} is negative", row=number, column=column)
        costs.append(
            SiteCost(site_id=values["site_id"], monthly_cost=monthly, cost_per_patient=patient)
        )
    return tuple(costs)


def read_site_costs(path: Path) -> tuple[SiteCost, ...]:
    return parse_site_costs(_read(path))
