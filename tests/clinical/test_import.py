"""Imports of sites and enrollment from CSV and XLSX: every bad row reported with its number and
reason, nothing imported when any row is bad; the documented templates import as they are."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select

from opencxo.clinical import importing, service
from opencxo.clinical.importing import ImportRejected
from opencxo.clinical.schemas import EnrollmentCreate, StudyRead
from opencxo.core.audit import AuditEvent
from opencxo.core.auth import repository as users
from opencxo.core.errors import Invalid, NotFound
from opencxo.models import EnrollmentRecord, StudySite
from tests.clinical.conftest import Clinic, days
from tests.factories import make_token
from tests.web.conftest import csrf_of, login

ROOT = Path(__file__).resolve().parents[2]


def _xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv(rows: list[list[object]]) -> bytes:
    return "\n".join(",".join(str(c) for c in row) for row in rows).encode()


def _counts(clinic: Clinic) -> tuple[int, int, int]:
    s = clinic.session
    return (
        s.execute(select(func.count()).select_from(StudySite)).scalar_one(),
        s.execute(select(func.count()).select_from(EnrollmentRecord)).scalar_one(),
        s.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
    )


SITES_HEADER = list(importing.SITE_COLUMNS)
GOOD_SITES = [
    ["US-001", "Lakeshore GI", "Lakeshore Univ.", "US", "Chicago", "Dr. A", days(-200).isoformat(), days(-150).isoformat(), "active"],
    ["DE-001", "Charité GI", "Charité", "de", "Berlin", "Dr. B", days(-100).isoformat(), "", "planned"],
]  # fmt: skip
BAD_SITES = [
    ["US-002", "", "Somewhere", "US", "Boston", "", "", "", "active"],  # row 2: no name, no date
    ["XX-001", "Nowhere", "", "QQ", "", "", "", "", "planned"],  # row 3: bad country
    ["US-003", "Fine", "", "US", "", "", "2026-13-45", "", "planned"],  # row 4: bad date
    ["US-004", "Fine too", "", "US", "", "", "", "", "open"],  # row 5: bad status
    ["US-005", "Good one", "", "US", "", "", "", "", "planned"],  # row 6: fine
    ["US-005", "Twice", "", "US", "", "", "", "", "planned"],  # row 7: duplicate code
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_sites_import_creates_and_updates(clinic: Clinic, fmt: str) -> None:
    study = clinic.study()
    rows = [SITES_HEADER, *GOOD_SITES]
    content = _csv(rows) if fmt == "csv" else _xlsx(rows)
    result = importing.import_file(clinic.session, clinic["cro"], study.id, f"sites.{fmt}", content)
    assert (result.kind, result.sites_created, result.sites_updated) == ("sites", 2, 0)
    sites = {s.code: s for s in service.list_sites(clinic.session, clinic["cro"], study.id)}
    assert sites["US-001"].status == "active"
    assert sites["US-001"].actual_activation_date == days(-150)
    assert sites["DE-001"].country == "DE"
    # again, with DE-001 activated: an update and a status step
    rows[2] = [*rows[2][:7], days(-5).isoformat(), "active"]
    content = _csv(rows) if fmt == "csv" else _xlsx(rows)
    result = importing.import_file(clinic.session, clinic["cro"], study.id, f"sites.{fmt}", content)
    assert (result.sites_created, result.sites_updated) == (0, 2)
    site = service.list_sites(clinic.session, clinic["cro"], study.id)[0]
    assert (site.code, site.status, site.actual_activation_date) == ("DE-001", "active", days(-5))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_bad_site_row_is_reported_and_nothing_is_imported(clinic: Clinic, fmt: str) -> None:
    study = clinic.study()
    before = _counts(clinic)
    rows = [SITES_HEADER, *BAD_SITES]
    content = _csv(rows) if fmt == "csv" else _xlsx(rows)
    with pytest.raises(ImportRejected) as caught:
        importing.import_file(clinic.session, clinic["cro"], study.id, f"sites.{fmt}", content)
    errors = caught.value.errors
    assert sorted({e.row for e in errors}) == [2, 3, 4, 5, 7]
    by_row = {(e.row, e.column) for e in errors}
    assert {(2, "name"), (2, "actual_activation_date"), (3, "country"), (4, "planned_activation_date"),
            (5, "status"), (7, "code")} <= by_row  # fmt: skip
    assert caught.value.status_code == 422
    assert "5 rows" in caught.value.message and "nothing was imported" in caught.value.message
    assert "row 7" in caught.value.field_errors
    assert _counts(clinic) == before


ENROLLMENT_HEADER = list(importing.ENROLLMENT_COLUMNS)


def _two_sites(clinic: Clinic) -> StudyRead:
    study = clinic.study()
    clinic.site(study.id, "US-001", activated=days(-100))
    clinic.site(study.id, "PL-001", country="PL", activated=days(-50))
    clinic.site(study.id, "PL-002", country="PL")
    return study


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_enrollment_counts_import(clinic: Clinic, fmt: str) -> None:
    study = _two_sites(clinic)
    rows: list[list[object]] = [
        ENROLLMENT_HEADER,
        ["US-001", days(-60).isoformat(), 4, 3, 1, 0],
        ["US-001", days(-30).isoformat(), 2, 2, "", 0],
        ["PL-001", days(-20).isoformat(), 1, 1, 0, 0],
    ]
    if fmt == "xlsx":  # Excel gives real dates and numbers
        rows = [rows[0], *[[r[0], date.fromisoformat(str(r[1])), *r[2:]] for r in rows[1:]]]
    content = _csv(rows) if fmt == "csv" else _xlsx(rows)
    result = importing.import_file(clinic.session, clinic["cro"], study.id, f"e.{fmt}", content)
    assert (result.kind, result.records_created) == ("enrollment", 3)
    summary = service.get_study(clinic.session, clinic["manager"], study.id).summary
    assert (summary.enrolled, summary.screened, summary.screen_failed) == (6, 7, 1)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_bad_enrollment_row_is_reported_and_nothing_is_imported(
    clinic: Clinic, fmt: str
) -> None:
    study = _two_sites(clinic)
    pl1 = next(
        s for s in service.list_sites(clinic.session, clinic["cro"], study.id) if s.code == "PL-001"
    )
    service.add_enrollment(
        clinic.session, clinic["cro"], pl1.id, EnrollmentCreate(on_date=days(-40), enrolled=1)
    )
    before = _counts(clinic)
    rows: list[list[object]] = [
        ENROLLMENT_HEADER,
        ["US-001", days(-60).isoformat(), 4, 3, 1, 0],  # 2: fine
        ["US-999", days(-60).isoformat(), 1, 1, 0, 0],  # 3: unknown site
        ["US-001", "yesterday", 1, 1, 0, 0],  # 4: bad date
        ["US-001", days(-59).isoformat(), -1, 1.5, 0, 0],  # 5: negative, not whole
        ["PL-002", days(-10).isoformat(), 1, 1, 0, 0],  # 6: site not active
        ["PL-001", days(-80).isoformat(), 1, 1, 0, 0],  # 7: before activation
        ["US-001", days(5).isoformat(), 1, 1, 0, 0],  # 8: future
        ["US-001", days(-60).isoformat(), 1, 1, 0, 0],  # 9: same site and date as row 2
        ["PL-001", days(-40).isoformat(), 1, 1, 0, 0],  # 10: already recorded
        ["", days(-40).isoformat(), 1, 1, 0, 0],  # 11: no site
    ]
    content = _csv(rows) if fmt == "csv" else _xlsx(rows)
    with pytest.raises(ImportRejected) as caught:
        importing.import_file(clinic.session, clinic["cro"], study.id, f"e.{fmt}", content)
    rows_reported = sorted({e.row for e in caught.value.errors})
    assert rows_reported == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    messages = {e.row: e.message for e in caught.value.errors}
    assert "no site US-999" in messages[3]
    assert "not a date" in messages[4]
    assert "not activated" in messages[6]
    assert "row 2" in messages[9]
    assert "already has counts" in messages[10]
    columns5 = {e.column for e in caught.value.errors if e.row == 5}
    assert columns5 == {"screened", "enrolled"}
    assert _counts(clinic) == before


def test_per_subject_rows_are_counted_per_site_and_date(clinic: Clinic) -> None:
    study = _two_sites(clinic)
    d1, d2 = days(-40).isoformat(), days(-30).isoformat()
    rows = [
        list(importing.SUBJECT_COLUMNS),
        ["S1", "US-001", "screened", d1],
        ["S2", "US-001", "screened", d1],
        ["S1", "US-001", "enrolled", d2],
        ["S2", "US-001", "screen failed", d2],
        ["S3", "PL-001", "screened", d2],
    ]
    result = importing.import_file(clinic.session, clinic["cro"], study.id, "s.csv", _csv(rows))
    assert (result.kind, result.records_created) == ("subjects", 3)
    records = service.study_enrollment(clinic.session, clinic["cro"], study.id).records
    got = {
        (r.site_code, r.on_date.isoformat()): (r.screened, r.enrolled, r.screen_failed)
        for r in records
    }
    assert got == {("US-001", d1): (2, 0, 0), ("US-001", d2): (0, 1, 1), ("PL-001", d2): (1, 0, 0)}


def test_bad_subject_rows_are_all_reported(clinic: Clinic) -> None:
    study = _two_sites(clinic)
    before = _counts(clinic)
    rows = [
        list(importing.SUBJECT_COLUMNS),
        ["S1", "US-001", "enrolled", days(-40).isoformat()],
        ["S1", "US-001", "enrolled", days(-39).isoformat()],  # 3: twice enrolled
        ["", "US-001", "screened", days(-39).isoformat()],  # 4: no subject
        ["S4", "US-001", "randomised", days(-39).isoformat()],  # 5: unknown status
    ]
    with pytest.raises(ImportRejected) as caught:
        importing.import_file(clinic.session, clinic["cro"], study.id, "s.csv", _csv(rows))
    assert sorted({e.row for e in caught.value.errors}) == [3, 4, 5]
    assert _counts(clinic) == before


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _damaged(sheet_xml: bytes) -> bytes:
    """A good sites workbook whose first sheet is replaced by ``sheet_xml``."""
    with zipfile.ZipFile(
        io.BytesIO(_xlsx([[*row] for row in [SITES_HEADER, *GOOD_SITES]]))
    ) as good:
        members = {name: good.read(name) for name in good.namelist()}
    return _zip({**members, "xl/worksheets/sheet1.xml": sheet_xml})


SHEET = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
# Each fails somewhere else in openpyxl: XML that does not parse (ParseError), a number cell
# holding text (ValueError) and a shared string that does not exist (IndexError) while the rows
# are read.
CORRUPT_WORKBOOKS = {
    "content types only": _zip({"[Content_Types].xml": b"<x"}),
    "sheet not XML": _damaged(b"<x"),
    "text in a number cell": _damaged(
        SHEET + b'<sheetData><row r="1"><c r="A1" t="n"><v>abc</v></c></row></sheetData>'
        b"</worksheet>"
    ),
    "no such shared string": _damaged(
        SHEET + b'<sheetData><row r="1"><c r="A1" t="s"><v>999</v></c></row></sheetData>'
        b"</worksheet>"
    ),
}


@pytest.mark.parametrize("content", CORRUPT_WORKBOOKS.values(), ids=CORRUPT_WORKBOOKS.keys())
def test_a_corrupt_workbook_is_not_a_readable_workbook(clinic: Clinic, content: bytes) -> None:
    study = clinic.study()
    before = _counts(clinic)
    with pytest.raises(Invalid, match="not a readable Excel workbook") as caught:
        importing.import_file(clinic.session, clinic["cro"], study.id, "sites.xlsx", content)
    assert caught.value.status_code == 422
    assert caught.value.field_errors == {"file": "upload an .xlsx workbook or a .csv file"}
    assert _counts(clinic) == before


def test_a_corrupt_workbook_answers_422_on_the_page_and_the_api(
    client: TestClient, clinic: Clinic
) -> None:
    study = clinic.study()
    user = users.user_by_email(clinic.session, clinic.emails["cro"])
    assert user is not None
    bearer = {"Authorization": f"Bearer {make_token(clinic.session, user=user)}"}
    clinic.session.commit()
    corrupt = ("sites.xlsx", CORRUPT_WORKBOOKS["content types only"], importing.XLSX_TYPE)
    api = client.post(
        f"/api/v1/studies/{study.id}/imports", files={"file": corrupt}, headers=bearer
    )
    assert api.status_code == 422, api.text
    assert api.headers["content-type"] == "application/problem+json"
    assert "the file is not a readable Excel workbook" in api.json()["detail"]
    login(client, clinic.emails["cro"])
    token = csrf_of(client.get(f"/studies/{study.id}/import").text)
    page = client.post(
        f"/studies/{study.id}/import", data={"csrf_token": token}, files={"file": corrupt}
    )
    assert page.status_code == 422
    assert "the file is not a readable Excel workbook" in page.text
    assert "upload an .xlsx workbook or a .csv file" in page.text
    assert service.list_sites(clinic.session, clinic["cro"], study.id) == []


def test_unreadable_files_and_strangers(clinic: Clinic) -> None:
    study = clinic.study()
    for name, content, match in (
        ("e.csv", b"", "empty"),
        ("e.xlsx", b"PK not really a zip", "Excel"),
        ("e.csv", b"foo,bar\n1,2\n", "none of the import"),
        ("e.csv", b"site_code,screened\nUS-001,1\n", "lacks the column"),
        ("e.csv", b"\xff\xfe\x00bad", "UTF-8"),
    ):
        with pytest.raises(Invalid, match=match):
            importing.import_file(clinic.session, clinic["cro"], study.id, name, content)
    with pytest.raises(NotFound):
        importing.import_file(
            clinic.session, clinic["stranger"], study.id, "s.csv", importing.template_csv("sites")
        )


def test_the_documented_examples_are_the_templates_and_import(clinic: Clinic) -> None:
    sites_doc = (ROOT / "docs/examples/clinical-sites.csv").read_bytes()
    enrollment_doc = (ROOT / "docs/examples/clinical-enrollment.csv").read_bytes()
    assert sites_doc == importing.template_csv("sites")
    assert enrollment_doc == importing.template_csv("enrollment")
    study = clinic.study()
    for name, content, _ in (
        ("sites.csv", sites_doc, None),
        ("enrollment.csv", enrollment_doc, None),
    ):
        importing.import_file(clinic.session, clinic["cro"], study.id, name, content)
    summary = service.get_study(clinic.session, clinic["manager"], study.id).summary
    assert summary.sites_total == 2 and summary.enrolled == 3
    # the Excel templates read the same
    table = importing.read_table("t.xlsx", importing.template_xlsx("enrollment"))
    assert table.columns == list(importing.ENROLLMENT_COLUMNS) and len(table.rows) == 2
