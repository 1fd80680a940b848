"""Tables as downloads: XLSX for people who work in Excel, CSV for everything else."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)  # Excel has no time zones; the header says UTC
    if isinstance(value, date | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection"): text
# anyone can type (a login e-mail in the audit trail, a provider's name) must stay text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_text(value: Any) -> Any:
    """A CSV cell that a spreadsheet reads as the text it is: a leading ``'`` before anything
    that would start a formula (numbers such as -12.50 stay numbers)."""
    if (
        isinstance(value, str)
        and len(value) > 1
        and value.startswith(_FORMULA_STARTS)
        and not _is_number(value)
    ):
        return "'" + value
    return value


@dataclass(frozen=True)
class XlsxSheet:
    """One sheet of a workbook: a bold header row, then the rows (which may be shorter or longer
    than the header, e.g. a summary followed by tables); ``bold_rows`` are indices into
    ``rows`` set in bold too (the titles and headers of tables further down)."""

    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence[Any]]
    bold_rows: frozenset[int] = frozenset()


def _write_sheet(workbook: Workbook, spec: XlsxSheet, *, first: bool) -> None:
    sheet = workbook.active if first else workbook.create_sheet()
    assert sheet is not None
    sheet.title = spec.title[:31]
    sheet.append(list(spec.headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(h) for h in spec.headers]
    for index, row in enumerate(spec.rows):
        values = [_cell(v) for v in row]
        sheet.append(values)
        for cell in sheet[sheet.max_row]:
            # openpyxl stores a string starting with "=" as a formula; it is text here.
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
        if index in spec.bold_rows:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
        widths += [0] * (len(values) - len(widths))
        for column, value in enumerate(values):
            widths[column] = max(widths[column], min(60, len(str(value or ""))))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width + 2
    sheet.freeze_panes = "A2"


def xlsx_workbook_response(filename: str, sheets: Sequence[XlsxSheet]) -> Response:
    """A workbook of several sheets, in order."""
    workbook = Workbook()
    for index, spec in enumerate(sheets):
        _write_sheet(workbook, spec, first=index == 0)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(
        buffer.getvalue(),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def xlsx_response(
    filename: str, title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Response:
    return xlsx_workbook_response(filename, [XlsxSheet(title, headers, rows)])


def csv_response(filename: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for row in rows:
        writer.writerow(_csv_text(_cell(v)) for v in row)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
