"""Import a study's sites and enrollment actuals from CSV or XLSX (the format: docs/clinical-import.md).

Three kinds of file, told apart by their header row:

* sites — ``code,name,institution,country,city,investigator,planned_activation_date,
  actual_activation_date,status``: a new code adds a site, a known one updates it;
* enrollment per date — ``site_code,date,screened,enrolled,screen_failed,withdrawn``: the counts
  of one site for one date (that day or period, not cumulative);
* enrollment per subject — ``subject_id,site_code,status,date``: one row per subject event
  (status screened, enrolled, screen_failed or withdrawn), counted per site and date.

Every row is checked before anything is written. When any row is wrong, ``ImportRejected`` lists
every wrong row with its number (the header is row 1) and the reason, and nothing is imported; the
request is one transaction, so a failure while writing also leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from pydantic import ValidationError
from sqlalchemy.orm import Session

from opencxo.clinical import service
from opencxo.clinical.models import SITE_TRANSITIONS, SiteStatus
from opencxo.clinical.schemas import (
    EnrollmentRow,
    ImportResult,
    RowError,
    SiteCreate,
    SiteRead,
    SiteTransition,
    SiteUpdate,
)
from opencxo.core.auth.principal import Principal
from opencxo.core.dates import EARLIEST_DATE, LATEST_DATE
from opencxo.core.errors import Invalid
from opencxo.core.types import utc_today

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

SITE_COLUMNS = (
    "code", "name", "institution", "country", "city", "investigator",
    "planned_activation_date", "actual_activation_date", "status",
)  # fmt: skip
ENROLLMENT_COLUMNS = ("site_code", "date", "screened", "enrolled", "screen_failed", "withdrawn")
SUBJECT_COLUMNS = ("subject_id", "site_code", "status", "date")
SUBJECT_STATUSES = ("screened", "enrolled", "screen_failed", "withdrawn")
REQUIRED = {
    "sites": ("code", "name", "country"),
    "enrollment": ("site_code", "date"),
    "subjects": ("subject_id", "site_code", "status", "date"),
}
ALIASES = {"site": "site_code", "site_id": "site_code", "on_date": "date", "subject": "subject_id"}

# The downloadable templates: the header and an example row or two (docs/examples/ holds the
# same files).
TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "sites": (
        SITE_COLUMNS,
        (
            ("US-001", "Lakeshore GI Center", "Lakeshore University Hospital", "US", "Chicago",
             "Dr. Maria Alvarez", "2026-01-15", "2026-01-20", "active"),
            ("PL-003", "Centrum Gastrologii Wisła", "Szpital Uniwersytecki", "PL", "Kraków",
             "Dr. Tomasz Nowak", "2026-09-01", "", "planned"),
        ),
    ),
    "enrollment": (
        ENROLLMENT_COLUMNS,
        (
            ("US-001", "2026-02-28", "3", "2", "1", "0"),
            ("US-001", "2026-03-31", "2", "1", "1", "0"),
        ),
    ),
    "subjects": (
        SUBJECT_COLUMNS,
        (
            ("S-0001", "US-001", "screened", "2026-02-10"),
            ("S-0001", "US-001", "enrolled", "2026-02-24"),
            ("S-0002", "US-001", "screened", "2026-02-12"),
            ("S-0002", "US-001", "screen_failed", "2026-02-20"),
        ),
    ),
}  # fmt: skip


class ImportRejected(Invalid):
    """Some rows are wrong: every one is listed, and nothing was imported."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        by_row: dict[str, list[str]] = defaultdict(list)
        for e in errors:
            by_row[f"row {e.row}"].append(f"{e.column}: {e.message}" if e.column else e.message)
        n = len({e.row for e in errors})
        super().__init__(
            f"{n} row{'s' if n != 1 else ''} of the file {'have' if n != 1 else 'has'} problems; "
            "nothing was imported. Correct them and upload the file again.",
            field_errors={row: "; ".join(messages) for row, messages in by_row.items()},
        )
        self.errors = list(errors)


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]  # row number in the file (header = 1), cells by column


# --- reading ------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _column(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(key, key)


def _rows_of_csv(content: bytes) -> list[list[str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(
            "the file is not UTF-8 text", field_errors={"file": "save the CSV as UTF-8"}
        ) from None
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), dialect)]


def _rows_of_xlsx(content: bytes) -> list[list[str]]:
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            # A read-only workbook parses its sheet while the rows are read.
            values = list(workbook.worksheets[0].iter_rows(values_only=True))
        finally:
            workbook.close()
    except Exception:  # openpyxl raises whatever its parsers hit: the file is at fault
        # A damaged workbook fails in the zip (BadZipFile, zlib.error), in its XML (ParseError)
        # or in a value of the wrong type or out of range (TypeError, ValueError, IndexError).
        raise Invalid(
            "the file is not a readable Excel workbook",
            field_errors={"file": "upload an .xlsx workbook or a .csv file"},
        ) from None
    return [[_text(v) for v in row] for row in values]


def read_table(filename: str, content: bytes) -> Table:
    """The first sheet (XLSX) or the text (CSV) as a header and numbered rows; blank rows are
    skipped but keep their numbers."""
    if not content:
        raise Invalid("the file is empty", field_errors={"file": "choose a file with a header row"})
    if len(content) > MAX_BYTES:
        raise Invalid("the file is larger than 5 MiB", field_errors={"file": "split the file"})
    is_xlsx = filename.lower().endswith((".xlsx", ".xlsm")) or content[:2] == b"PK"
    raw = _rows_of_xlsx(content) if is_xlsx else _rows_of_csv(content)
    while raw and not any(raw[0]):
        raw.pop(0)
    if not raw:
        raise Invalid("the file has no header row", field_errors={"file": "add the header row"})
    columns = [_column(c) for c in raw[0]]
    while columns and not columns[-1]:
        columns.pop()
    if len(raw) - 1 > MAX_ROWS:
        raise Invalid(f"at most {MAX_ROWS:,} rows per file", field_errors={"file": "split it"})
    rows = []
    for number, cells in enumerate(raw[1:], start=2):
        if not any(cells):
            continue
        padded = [*cells, *([""] * (len(columns) - len(cells)))]
        rows.append((number, {c: padded[i] for i, c in enumerate(columns) if c}))
    return Table(columns=columns, rows=rows)


def kind_of(table: Table) -> str:
    """sites, enrollment or subjects, from the header; else 422 naming the expected columns."""
    columns = set(table.columns)
    if "subject_id" in columns:
        kind = "subjects"
    elif "code" in columns or "name" in columns:
        kind = "sites"
    elif "site_code" in columns:
        kind = "enrollment"
    else:
        raise Invalid(
            "the header row names none of the import's columns",
            field_errors={
                "file": "start with the header of a template: "
                + " | ".join(",".join(TEMPLATES[k][0]) for k in ("sites", "enrollment", "subjects"))
            },
        )
    missing = [c for c in REQUIRED[kind] if c not in columns]
    if missing:
        raise Invalid(
            f"the header row lacks the column(s) {', '.join(missing)}",
            field_errors={"file": "expected columns: " + ",".join(TEMPLATES[kind][0])},
        )
    return kind


# --- cells --------------------------------------------------------------------------------------


def _date(cells: Mapping[str, str], column: str, errors: list[tuple[str, str]]) -> date | None:
    value = cells.get(column, "")
    if not value:
        return None
    try:
        found = date.fromisoformat(value[:10]) if len(value) >= 10 else date.fromisoformat(value)
    except ValueError:
        errors.append((column, f"{value!r} is not a date (use YYYY-MM-DD)"))
        return None
    if not EARLIEST_DATE <= found <= LATEST_DATE:
        errors.append(
            (
                column,
                f"{found.isoformat()} is not between {EARLIEST_DATE.isoformat()} and "
                f"{LATEST_DATE.isoformat()}",
            )
        )
        return None
    return found


def _count(cells: Mapping[str, str], column: str, errors: list[tuple[str, str]]) -> int:
    value = cells.get(column, "")
    if value == "":
        return 0
    try:
        number = int(value)
    except ValueError:
        errors.append((column, f"{value!r} is not a whole number"))
        return 0
    if number < 0:
        errors.append((column, f"{number} is negative (counts are 0 or more)"))
        return 0
    if number > 100_000:
        errors.append((column, f"{number} is implausibly large"))
        return 0
    return number


def _pydantic_errors(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for error in exc.errors():
        column = str(error["loc"][0]) if error["loc"] else ""
        out.append((column, str(error["msg"]).removeprefix("Value error, ")))
    return out


# --- sites --------------------------------------------------------------------------------------


def _site_plan(
    table: Table, existing: Mapping[str, SiteRead], today: date
) -> tuple[list[tuple[int, SiteCreate]], list[tuple[int, SiteRead, SiteCreate]], list[RowError]]:
    creates: list[tuple[int, SiteCreate]] = []
    updates: list[tuple[int, SiteRead, SiteCreate]] = []
    problems: list[RowError] = []
    seen: dict[str, int] = {}
    for number, cells in table.rows:
        errors: list[tuple[str, str]] = []
        for column in REQUIRED["sites"]:
            if not cells.get(column):
                errors.append((column, "required"))
        planned = _date(cells, "planned_activation_date", errors)
        actual = _date(cells, "actual_activation_date", errors)
        status_text = cells.get("status", "").strip().lower().replace(" ", "_")
        code = cells.get("code", "")
        if code in seen:
            errors.append(("code", f"site {code} is already on row {seen[code]}"))
        elif code:
            seen[code] = number
        current = existing.get(code)
        if status_text and status_text not in {s.value for s in SiteStatus}:
            errors.append(
                (
                    "status",
                    f"{status_text!r} is not one of {', '.join(s.value for s in SiteStatus)}",
                )
            )
        status_ok = not (status_text and status_text not in {s.value for s in SiteStatus})
        status = SiteStatus(status_text) if status_text and status_ok else None
        effective = status or (current.status if current else SiteStatus.PLANNED)
        rules = _site_rules(effective, actual, current, today) if status_ok else []
        data = None
        fields = {c: cells.get(c, "") for c in SITE_COLUMNS if c not in ("status",)}
        try:
            data = SiteCreate.model_validate(
                {
                    **fields,
                    "planned_activation_date": planned,
                    "actual_activation_date": actual,
                    "status": effective,
                }
            )
        except ValidationError as exc:
            named = {c for c, _ in errors}
            errors.extend((c, m) for c, m in _pydantic_errors(exc) if c not in named)
        errors.extend(rules)
        if errors:
            problems.extend(RowError(row=number, column=c or None, message=m) for c, m in errors)
        elif data is not None:
            if current is None:
                creates.append((number, data))
            else:
                updates.append((number, current, data))
    return creates, updates, problems


def _site_rules(
    status: SiteStatus, actual: date | None, current: SiteRead | None, today: date
) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if current is not None:
        if status != current.status and status not in SITE_TRANSITIONS[current.status]:
            errors.append(
                ("status", f"site {current.code} is {current.status.value}: it cannot become "
                 f"{status.value}")
            )  # fmt: skip
        return errors
    if status in (SiteStatus.ACTIVE, SiteStatus.ON_HOLD) and actual is None:
        errors.append(("actual_activation_date", f"required for a site that is {status.value}"))
    if status in (SiteStatus.PLANNED, SiteStatus.ACTIVATING) and actual is not None:
        errors.append(("actual_activation_date", f"leave empty for a {status.value} site"))
    if actual is not None and actual > today:
        errors.append(("actual_activation_date", f"{actual.isoformat()} is in the future"))
    return errors


def _import_sites(
    session: Session, principal: Principal, study_id: uuid.UUID, table: Table
) -> ImportResult:
    existing = {s.code: s for s in service.list_sites(session, principal, study_id)}
    creates, updates, problems = _site_plan(table, existing, utc_today())
    if problems:
        raise ImportRejected(problems)
    for _, data in creates:
        service.create_site(session, principal, study_id, data)
    for _, current, data in updates:
        fields = data.model_dump(exclude={"status", "actual_activation_date"})
        if data.provider_id is None:
            fields["provider_id"] = current.provider_id
        if data.monthly_cost is None and data.cost_per_patient is None:  # costs not in the file
            for name in ("monthly_cost", "cost_per_patient", "cost_currency"):
                fields[name] = getattr(current, name)
        updated = service.update_site(
            session, principal, current.id, SiteUpdate(**fields, version=current.version)
        )
        if data.status != current.status:
            step = SiteTransition(
                version=updated.version,
                status=data.status,
                on=data.actual_activation_date,
                reason="import",
            )
            service.change_site_status(session, principal, current.id, step)
    return ImportResult(
        kind="sites", rows=len(table.rows), sites_created=len(creates), sites_updated=len(updates)
    )


# --- enrollment ---------------------------------------------------------------------------------


def _enrollment_rows(
    table: Table, sites: Mapping[str, SiteRead], taken: set[tuple[str, date]], today: date
) -> tuple[list[EnrollmentRow], list[RowError]]:
    rows: list[EnrollmentRow] = []
    problems: list[RowError] = []
    seen: dict[tuple[str, date], int] = {}
    for number, cells in table.rows:
        errors: list[tuple[str, str]] = []
        code = cells.get("site_code", "")
        site = sites.get(code)
        if not code:
            errors.append(("site_code", "required"))
        elif site is None:
            errors.append(("site_code", f"no site {code} in this study (import the sites first)"))
        on_date = _date(cells, "date", errors)
        if on_date is None and not cells.get("date"):
            errors.append(("date", "required"))
        counts = {c: _count(cells, c, errors) for c in ENROLLMENT_COLUMNS[2:]}
        if site is not None and on_date is not None:
            refusal = service.enrollment_refusal(site, on_date, today=today)
            if refusal:
                errors.append(("date", refusal))
            key = (code, on_date)
            if key in seen:
                errors.append(("date", f"site {code} has counts for this date on row {seen[key]}"))
            elif key in taken:
                errors.append(("date", f"site {code} already has counts for {on_date.isoformat()}"))
            seen.setdefault(key, number)
        if errors:
            problems.extend(RowError(row=number, column=c, message=m) for c, m in errors)
        elif on_date is not None:
            rows.append(EnrollmentRow(site_code=code, on_date=on_date, **counts))
    return rows, problems


def _subject_rows(
    table: Table, sites: Mapping[str, SiteRead], taken: set[tuple[str, date]], today: date
) -> tuple[list[EnrollmentRow], list[RowError]]:
    """Subject events counted per site and date."""
    counts: dict[tuple[str, date], Counter[str]] = defaultdict(Counter)
    first_row: dict[tuple[str, date], int] = {}
    events: dict[tuple[str, str], int] = {}
    problems: list[RowError] = []
    for number, cells in table.rows:
        errors: list[tuple[str, str]] = []
        subject = cells.get("subject_id", "")
        code = cells.get("site_code", "")
        status = cells.get("status", "").strip().lower().replace(" ", "_").replace("-", "_")
        site = sites.get(code)
        if not subject:
            errors.append(("subject_id", "required"))
        if not code:
            errors.append(("site_code", "required"))
        elif site is None:
            errors.append(("site_code", f"no site {code} in this study (import the sites first)"))
        if status not in SUBJECT_STATUSES:
            errors.append(
                ("status", f"{status or 'empty'!r} is not one of {', '.join(SUBJECT_STATUSES)}")
            )
        on_date = _date(cells, "date", errors)
        if on_date is None and not cells.get("date"):
            errors.append(("date", "required"))
        if subject and status in SUBJECT_STATUSES:
            if (subject, status) in events:
                errors.append(
                    ("status", f"subject {subject} is already {status} on row {events[(subject, status)]}")
                )  # fmt: skip
            else:
                events[(subject, status)] = number
        if site is not None and on_date is not None:
            refusal = service.enrollment_refusal(site, on_date, today=today)
            if refusal:
                errors.append(("date", refusal))
            elif (code, on_date) in taken:
                errors.append(("date", f"site {code} already has counts for {on_date.isoformat()}"))
        if errors:
            problems.extend(RowError(row=number, column=c, message=m) for c, m in errors)
        elif on_date is not None:
            counts[(code, on_date)][status] += 1
            first_row.setdefault((code, on_date), number)
    rows = [
        EnrollmentRow(site_code=code, on_date=day, **{s: c[s] for s in SUBJECT_STATUSES})
        for (code, day), c in sorted(counts.items(), key=lambda item: (item[0][1], item[0][0]))
    ]
    return rows, problems


def _import_enrollment(
    session: Session,
    principal: Principal,
    study_id: uuid.UUID,
    table: Table,
    *,
    kind: str,
    filename: str,
) -> ImportResult:
    sites = {s.code: s for s in service.list_sites(session, principal, study_id)}
    taken = {
        (r.site_code, r.on_date)
        for r in service.study_enrollment(session, principal, study_id).records
    }
    read = _subject_rows if kind == "subjects" else _enrollment_rows
    rows, problems = read(table, sites, taken, utc_today())
    if problems:
        raise ImportRejected(problems)
    created = service.record_enrollment(
        session, principal, study_id, rows, source=f"import of {filename} ({kind})"
    )
    return ImportResult(kind=kind, rows=len(table.rows), records_created=created)


# --- the use case -------------------------------------------------------------------------------


def import_file(
    session: Session,
    principal: Principal,
    study_id: uuid.UUID,
    filename: str,
    content: bytes,
    *,
    expect: str | None = None,
) -> ImportResult:
    """Import a sites or enrollment file into the study (``expect``: "sites" or "enrollment"
    refuses the other kind). All rows or none."""
    service.get_study(session, principal, study_id)  # 404 before reading anything
    table = read_table(filename, content)
    kind = kind_of(table)
    if expect == "sites" and kind != "sites":
        raise Invalid(
            "this is not a sites file", field_errors={"file": "columns: " + ",".join(SITE_COLUMNS)}
        )
    if expect == "enrollment" and kind == "sites":
        raise Invalid(
            "this is a sites file, not enrollment",
            field_errors={"file": "columns: " + ",".join(ENROLLMENT_COLUMNS)},
        )
    if not table.rows:
        raise Invalid("the file has a header but no rows", field_errors={"file": "add rows"})
    if kind == "sites":
        return _import_sites(session, principal, study_id, table)
    return _import_enrollment(session, principal, study_id, table, kind=kind, filename=filename)


def template_csv(kind: str) -> bytes:
    header, rows = TEMPLATES[kind]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def template_xlsx(kind: str) -> bytes:
    header, rows = TEMPLATES[kind]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = kind
    sheet.append(list(header))
    for row in rows:
        sheet.append([int(v) if v.isdigit() else v for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
