"""``SITES.csv`` (the ``opencxo clinical forecast`` input) turned into engine inputs.

Columns: ``site_id,country,activation_date,enrolled`` and, for a site not open yet (empty
``activation_date``), ``planned_activation_date``; optional ``region``. Dates are ISO 8601
(``2025-03-01``). Row numbers in errors count the header as row 1, as a spreadsheet does.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from opencxo.clinical.engine.forecast import Site

__all__ = ["REQUIRED_COLUMNS", "SitesFileError", "SitesTable", "parse_sites_csv", "read_sites_csv"]

REQUIRED_COLUMNS = ("site_id", "country", "activation_date", "enrolled")


class SitesFileError(ValueError):
    """A bad row or header: names the row number and the column."""

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None):
        self.row = row
        self.column = column
        where = ""
        if row is not None:
            where = f"row {row}"
            if column is not None:
                where += f", column {column}"
            where += ": "
        super().__init__(f"{where}{message}")


@dataclass(frozen=True)
class SitesTable:
    """The rows of a sites file, as dates (before choosing the as-of date)."""

    site_ids: tuple[str, ...]
    countries: tuple[str, ...]
    regions: tuple[str | None, ...]
    activation_dates: tuple[date | None, ...]
    planned_activation_dates: tuple[date | None, ...]
    enrolled: tuple[int, ...]

    @property
    def latest_activation(self) -> date | None:
        """The last actual activation date (None when no site is open)."""
        dates = [d for d in self.activation_dates if d is not None]
        return max(dates) if dates else None

    def sites(self, as_of: date) -> tuple[Site, ...]:
        """Engine sites with days relative to ``as_of``.

        Raises
        ------
        SitesFileError
            A site activated after ``as_of``.
        """
        out = []
        for i, site_id in enumerate(self.site_ids):
            activated = self.activation_dates[i]
            planned = self.planned_activation_dates[i]
            if activated is not None and activated > as_of:
                raise SitesFileError(
                    f"activation date {activated.isoformat()} is after the as-of date "
                    f"{as_of.isoformat()}",
                    row=i + 2,
                    column="activation_date",
                )
            out.append(
                Site(
                    site_id=site_id,
                    country=self.countries[i],
                    region=self.regions[i],
                    enrolled=self.enrolled[i],
                    activation_day=None if activated is None else float((activated - as_of).days),
                    planned_activation_day=None
                    if planned is None or activated is not None
                    else float((planned - as_of).days),
                )
            )
        return tuple(out)


def _date(text: str, row: int, column: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SitesFileError(
            f"{text!r} is not an ISO 8601 date (YYYY-MM-DD)", row=row, column=column
        ) from None


def parse_sites_csv(text: str) -> SitesTable:
    """Parse the text of a sites file.

    Raises
    ------
    SitesFileError
        A missing column, an empty or duplicate ``site_id``, an empty ``country``, a bad date, a
        negative or fractional ``enrolled``, a site not open with neither a planned date nor 0
        enrolled, no data row.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise SitesFileError(f"missing column(s) {', '.join(missing)}", row=1)
    ids: list[str] = []
    countries: list[str] = []
    regions: list[str | None] = []
    activations: list[date | None] = []
    planned: list[date | None] = []
    enrolled: list[int] = []
    seen: set[str] = set()
    for row_number, row in enumerate(reader, start=2):
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(values.values()):
            continue
        site_id = values.get("site_id", "")
        if not site_id:
            raise SitesFileError("site_id is empty", row=row_number, column="site_id")
        if site_id in seen:
            raise SitesFileError(
                f"site_id {site_id!r} appears twice", row=row_number, column="site_id"
            )
        seen.add(site_id)
        country = values.get("country", "")
        if not country:
            raise SitesFileError("country is empty", row=row_number, column="country")
        text_enrolled = values.get("enrolled", "") or "0"
        try:
            count = int(text_enrolled)
        except ValueError:
            raise SitesFileError(
                f"{text_enrolled!r} is not a whole number", row=row_number, column="enrolled"
            ) from None
        if count < 0:
            raise SitesFileError(f"{count} is negative", row=row_number, column="enrolled")
        activation_text = values.get("activation_date", "")
        planned_text = values.get("planned_activation_date", "")
        activation = (
            _date(activation_text, row_number, "activation_date") if activation_text else None
        )
        plan = _date(planned_text, row_number, "planned_activation_date") if planned_text else None
        if activation is None:
            if plan is None:
                raise SitesFileError(
                    "a site not open yet (empty activation_date) needs a planned_activation_date",
                    row=row_number,
                    column="planned_activation_date",
                )
            if count:
                raise SitesFileError(
                    f"{count} patients at a site not open yet (empty activation_date)",
                    row=row_number,
                    column="enrolled",
                )
        ids.append(site_id)
        countries.append(country)
        regions.append(values.get("region") or None)
        activations.append(activation)
        planned.append(plan)
        enrolled.append(count)
    if not ids:
        raise SitesFileError("no site rows")
    return SitesTable(
        site_ids=tuple(ids),
        countries=tuple(countries),
        regions=tuple(regions),
        activation_dates=tuple(activations),
        planned_activation_dates=tuple(planned),
        enrolled=tuple(enrolled),
    )


def read_sites_csv(path: Path) -> SitesTable:
    """Read and parse a sites file (UTF-8, optional BOM)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SitesFileError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SitesFileError(f"{path} is not UTF-8 text") from None
    return parse_sites_csv(text)
