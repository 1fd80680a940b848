"""Structured scope fields of an RFP lot, chosen by the lot's catalog service."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from opencxo.core.errors import Invalid
from opencxo.core.geography import is_country


@dataclass(frozen=True)
class ScopeField:
    name: str
    label: str
    kind: str  # "int", "number", "date", "choice", "countries", "text"
    required: bool = True
    choices: tuple[str, ...] = ()
    minimum: float | None = None


_CLINICAL = (
    ScopeField("phase", "Phase", "choice", choices=("I", "II", "III", "IV")),
    ScopeField("patients", "Patients", "int", minimum=1),
    ScopeField("countries", "Countries", "countries"),
)
_BY_PREFIX: dict[str, tuple[ScopeField, ...]] = {
    "CMC-GMPAPI": (
        ScopeField("quantity_kg", "Quantity (kg)", "number", minimum=0.001),
        ScopeField("grade", "Grade", "choice", choices=("GMP", "non-GMP")),
        ScopeField("target_delivery_date", "Target delivery", "date"),
    ),
    "CMC-GMPINT": (
        ScopeField("quantity_kg", "Quantity (kg)", "number", minimum=0.001),
        ScopeField("grade", "Grade", "choice", choices=("GMP", "non-GMP")),
        ScopeField("target_delivery_date", "Target delivery", "date"),
    ),
    "CMC-DPFORM": (
        ScopeField("dosage_form", "Dosage form", "text"),
        ScopeField("units", "Units", "int", minimum=1),
        ScopeField("target_delivery_date", "Target delivery", "date"),
    ),
    "PRE-GLPTOX": (
        ScopeField("species", "Species", "text"),
        ScopeField("duration_weeks", "Duration (weeks)", "int", minimum=1),
    ),
    # Services that run a study at sites; medical writing, biostatistics and pharmacovigilance
    # take the free-text scope.
    "CLIN-PH1": _CLINICAL,
    "CLIN-SITEMGMT": _CLINICAL,
    "CLIN-MONITOR": _CLINICAL,
    "CLIN-DATAMGMT": _CLINICAL,
    "CLIN-CENTRALLAB": _CLINICAL,
    "DEV-": (
        ScopeField("device_class", "Device class", "choice", choices=("I", "IIa", "IIb", "III")),
    ),
}
_DEFAULT = (ScopeField("description", "Scope of work", "text"),)


def scope_fields(service_code: str) -> tuple[ScopeField, ...]:
    for prefix, fields in _BY_PREFIX.items():
        if service_code.startswith(prefix):
            return fields
    return _DEFAULT


def validate_scope(service_code: str, raw: dict[str, Any], *, lot: int) -> dict[str, Any]:
    """Check and normalise a lot's scope; errors name the lot and the field."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in scope_fields(service_code):
        value = raw.get(field.name)
        key = f"lots.{lot}.scope.{field.name}"
        if value in (None, "", []):
            if field.required:
                errors[key] = f"{field.label} is required for this service"
            continue
        try:
            clean[field.name] = _coerce(field, value)
        except ValueError as exc:
            errors[key] = f"{field.label}: {exc}"
    unknown = set(raw) - {f.name for f in scope_fields(service_code)}
    for name in sorted(unknown):
        errors[f"lots.{lot}.scope.{name}"] = "not a scope field of this service"
    if errors:
        raise Invalid(
            "the lot scope is incomplete or wrong: " + "; ".join(errors.values()),
            field_errors=errors,
        )
    return clean


def _number(value: Any, *, whole: bool) -> int | float:
    """A finite number (a whole one if asked): no booleans, NaN, infinity or silent truncation."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("enter a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError("enter a number") from None
    if not math.isfinite(number):
        raise ValueError("enter a finite number")
    if whole:
        if not number.is_integer():
            raise ValueError("enter a whole number")
        return int(number)
    return number


def _coerce(field: ScopeField, value: Any) -> Any:
    if field.kind in ("int", "number"):
        number = _number(value, whole=field.kind == "int")
        if field.minimum is not None and number < field.minimum:
            raise ValueError(f"must be at least {field.minimum:g}")
        return number
    if field.kind == "date":
        return date.fromisoformat(str(value)).isoformat()
    if field.kind == "choice":
        if str(value) not in field.choices:
            raise ValueError(f"choose one of {', '.join(field.choices)}")
        return str(value)
    if field.kind == "countries":
        items = value if isinstance(value, list) else str(value).replace(" ", "").split(",")
        codes = [str(c).upper() for c in items if str(c)]
        bad = [c for c in codes if not is_country(c)]
        if bad or not codes:
            raise ValueError("use ISO country codes separated by commas, e.g. US, DE, CN")
        return codes
    text = str(value).strip()
    if len(text) > 2000:
        raise ValueError("keep it under 2,000 characters")
    return text
