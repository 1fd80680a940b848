"""Managing one's own profile in the web UI, sortable lists, and the Excel/CSV exports."""

from __future__ import annotations

import csv
import io
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from opencxo.core.audit import AuditEvent
from opencxo.models import Capability, Organization, Site
from tests.web.conftest import World, csrf, csrf_of, login, new_user

FIELD_ERROR = re.compile(r'data-field-error="(\w+)">([^<]+)<')


def _provider_admin(session: Session, world: World, client: TestClient) -> None:
    new_user(session, world.provider.id, "admin", "admin@shanghai-api.example")
    login(client, "admin@shanghai-api.example")


def test_provider_admin_adds_a_site_and_a_capability(
    client: TestClient, session: Session, world: World
) -> None:
    _provider_admin(session, world, client)
    manage = f"/organizations/{world.provider.id}/manage"
    token = csrf(client, manage)
    response = client.post(
        f"/organizations/{world.provider.id}/sites",
        data={
            "csrf_token": token,
            "name": "Jinshan Plant",
            "site_type": "plant",
            "city": "Shanghai",
            "country": "cn",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{manage}#site"
    site = session.execute(select(Site).where(Site.name == "Jinshan Plant")).scalar_one()
    assert (site.country, site.city, site.site_type) == ("CN", "Shanghai", "plant")

    response = client.post(
        f"/providers/{world.provider.id}/capabilities",
        data={
            "csrf_token": token,
            "service_code": "CMC-STAB",
            "site_ids[]": [str(site.id)],
            "standards[]": ["GMP", "ISO 9001"],
            "lead_time_weeks": "6",
            "capacity_notes": "ICH zones I–IV",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    capability = session.execute(
        select(Capability).where(Capability.service_code == "CMC-STAB")
    ).scalar_one()
    assert capability.standards == ["GMP", "ISO 9001"]
    assert capability.lead_time_weeks == 6
    assert [s.name for s in capability.sites] == ["Jinshan Plant"]
    profile = client.get(f"/providers/{world.provider.id}").text
    assert "Stability studies" in profile
    assert "Profile history" in profile


def test_bad_site_input_is_shown_next_to_the_fields_and_nothing_is_saved(
    client: TestClient, session: Session, world: World
) -> None:
    _provider_admin(session, world, client)
    before = session.execute(select(Site)).scalars().all()
    response = client.post(
        f"/organizations/{world.provider.id}/sites",
        data={
            "csrf_token": csrf(client, f"/organizations/{world.provider.id}/manage"),
            "name": "Pilot Lab",
            "site_type": "lab",
            "city": "Suzhou",
            "country": "XX",
        },
    )
    assert response.status_code == 422
    assert dict(FIELD_ERROR.findall(response.text)) == {
        "country": "use an ISO 3166-1 alpha-2 country code such as US, CN, IN, DE or KR"
    }
    assert 'value="Pilot Lab"' in response.text  # the user's input is kept
    assert len(session.execute(select(Site)).scalars().all()) == len(before)


def test_stale_profile_save_answers_409_and_keeps_the_newer_version(
    client: TestClient, session: Session, world: World
) -> None:
    _provider_admin(session, world, client)
    page = client.get(f"/organizations/{world.provider.id}/manage").text
    token = csrf_of(page)
    form = {
        "csrf_token": token,
        "version": "1",
        "name": "Shanghai API Works",
        "country": "CN",
        "city": "Shanghai",
        "service_lines[]": ["CDMO", "CMO"],
        "regions_served[]": ["Asia-Pacific", "Europe"],
        "website": "",
        "description": "Now also serving Europe.",
    }
    first = client.post(
        f"/organizations/{world.provider.id}/profile", data=form, follow_redirects=False
    )
    assert first.status_code == 303
    stale = client.post(
        f"/organizations/{world.provider.id}/profile",
        data={**form, "description": "Overwritten?"},
    )
    assert stale.status_code == 409
    assert "version 2, you sent 1" in stale.text
    session.expire_all()
    provider = session.get(Organization, world.provider.id)
    assert provider is not None
    assert provider.description == "Now also serving Europe."
    assert provider.service_lines == ["CDMO", "CMO"]
    assert provider.regions_served == ["Asia-Pacific", "Europe"]
    assert provider.version == 2


def test_a_sponsor_cannot_manage_a_providers_profile(
    client: TestClient, session: Session, world: World
) -> None:
    login(client, "manager@acme.example")
    events = len(session.execute(select(AuditEvent)).scalars().all())
    assert client.get(f"/organizations/{world.provider.id}/manage").status_code == 403
    token = csrf(client, "/providers")
    response = client.post(
        f"/organizations/{world.provider.id}/sites",
        data={
            "csrf_token": token,
            "name": "Fake",
            "site_type": "lab",
            "city": "X",
            "country": "CN",
        },
    )
    assert response.status_code == 403
    assert len(session.execute(select(AuditEvent)).scalars().all()) == events


def test_directory_sorts_by_name_both_ways(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    names = re.compile(r'href="/providers/[0-9a-f-]{36}">([^<]+)</a>')
    ascending = names.findall(client.get("/providers?sort=name").text)
    descending = names.findall(client.get("/providers?sort=-name").text)
    assert ascending == ["Lyon Clinical Services", "Shanghai API Works"]
    assert descending == ["Shanghai API Works", "Lyon Clinical Services"]


def test_directory_export_has_every_match_as_a_workbook(client: TestClient, world: World) -> None:
    login(client, "manager@acme.example")
    response = client.get("/providers.xlsx?service_code=CMC-GMPAPI")
    assert response.status_code == 200
    assert (
        response.headers["content-disposition"] == 'attachment; filename="opencxo-providers.xlsx"'
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Provider", "Service lines", "Country")
    assert len(rows) == 2
    assert rows[1][:4] == ("Shanghai API Works", "CDMO", "China", "Somewhere")
    assert rows[1][4] == "GMP"
    assert rows[1][6:9] == ("FDA", rows[1][7], "NAI")


def test_directory_export_refuses_an_overlong_sort_key_as_the_list_does(
    client: TestClient, world: World
) -> None:
    login(client, "manager@acme.example")
    for path in ("/providers", "/providers.xlsx"):
        response = client.get(f"{path}?sort={'x' * 41}")
        assert response.status_code == 422, path
        assert "sort: String should have at most 40 characters" in response.text
    kept = client.get(f"/providers.xlsx?sort={'x' * 40}")  # an unknown key: the default order
    assert kept.status_code == 200
    assert kept.headers["content-disposition"] == 'attachment; filename="opencxo-providers.xlsx"'


def test_qualification_export_and_audit_csv(
    client: TestClient, session: Session, world: World
) -> None:
    new_user(session, world.sponsor.id, "qa", "qa@acme.example")
    login(client, "qa@acme.example")
    sheet = load_workbook(io.BytesIO(client.get("/qualifications.xlsx").content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert [r[:2] for r in rows[1:]] == [("Shanghai API Works", "approved")]

    response = client.get("/audit.csv?entity_type=qualification")
    assert response.headers["content-type"].startswith("text/csv")
    records = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["action"], r["entity_id"]) for r in records] == [
        ("create", str(world.qualification.id))
    ]
    event = session.execute(
        select(AuditEvent).where(AuditEvent.entity_type == "qualification")
    ).scalar_one()
    assert records[0]["hash"] == event.hash
