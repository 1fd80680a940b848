"""Editing from the study page: its disruptions (declare, edit, end today, delete — through the
parties use cases, with the forecast reflecting each change) and its sites table (sorting,
filters, pages), plus the links to the status report and the recovery plan."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from opencxo.clinical import service
from opencxo.clinical.schemas import EnrollmentCreate, SiteCreate
from opencxo.core.audit import AuditEvent
from opencxo.parties import service as parties
from opencxo.parties.schemas import DisruptionCreate, DisruptionRead
from tests.clinical.conftest import TODAY, Clinic, days
from tests.clinical.test_forecasting import _demo_like
from tests.web.conftest import csrf, csrf_of, login

FAST = "paths=200&seed=3"  # a small forecast: these tests are about the forms around it


def _flash(html: str) -> list[str]:
    return [m.strip() for m in re.findall(r'role="alert">([^<]*)<', html)]


def _after(html: str, marker: str, end: str) -> str:
    start = html.index(marker)
    return html[start : html.index(end, start)]


def _section(html: str, testid: str, end: str = "</form>") -> str:
    return _after(html, f'data-testid="{testid}"', end)


def _row(html: str, disruption_id: uuid.UUID) -> str:
    start = html.index(f'data-disruption="{disruption_id}"')
    return html[start : html.index("</tr>", start)]


def _stored(clinic: Clinic) -> list[DisruptionRead]:
    clinic.session.expire_all()
    return parties.list_disruptions(clinic.session, clinic["manager"])


def _events(clinic: Clinic) -> int:
    """Audit events about disruptions (signing in writes events of its own)."""
    clinic.session.expire_all()
    query = select(func.count()).where(AuditEvent.entity_type == "disruption")
    return int(clinic.session.scalar(query) or 0)


def _declare(clinic: Clinic, actor: str = "manager", **changes: object) -> DisruptionRead:
    fields: dict[str, object] = {
        "title": "Epidemic in Poland",
        "cause": "epidemic",
        "country": "PL",
        "starts_on": days(-40),
        "enrollment_multiplier": 0.0,
        "freeze_activations": True,
        **changes,
    }
    declared = parties.declare_disruption(
        clinic.session, clinic[actor], DisruptionCreate.model_validate(fields)
    )
    clinic.session.commit()
    return declared


def _form(**changes: str) -> dict[str, str]:
    return {
        "title": "Floods in Poland",
        "cause": "natural_disaster",
        "country": "PL",
        "region": "",
        "starts_on": days(-10).isoformat(),
        "ends_on": "",
        "enrollment_multiplier": "0.5",
        "freeze_activations": "on",
        "notes": "River Oder",
        **changes,
    }


# --- disruptions -------------------------------------------------------------------------------


def test_declare_edit_end_and_delete_a_disruption_from_the_study_page(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic, disruption=False)  # US, DE and PL sites
    login(client, clinic.emails["manager"])
    url = f"/studies/{study_id}?{FAST}"
    page = client.get(url)
    assert page.status_code == 200, page.text
    assert 'data-testid="disruptions-empty"' in page.text
    assert 'data-testid="forecast-disruptions"' not in page.text
    # the add form offers the study's countries and their regions, nothing else
    form = _section(page.text, "disruption-form")
    assert re.findall(r'<option value="([A-Z]{2})"', form) == ["DE", "PL", "US"]  # by name
    assert 'value="Europe"' in form and 'value="North America"' in form
    assert 'value="Asia-Pacific"' not in form
    assert 'id="d-title"' in form  # ids of its own on a page with several forms
    token = csrf_of(page.text)
    back = f"/studies/{study_id}?{FAST}#disruptions"

    added = client.post(
        f"/studies/{study_id}/disruptions",
        data={**_form(), "csrf_token": token, "next": back},
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    assert added.headers["location"] == back
    (floods,) = _stored(clinic)
    assert (floods.title, floods.cause, floods.country, floods.region) == (
        "Floods in Poland", "natural_disaster", "PL", None,
    )  # fmt: skip
    assert (floods.starts_on, floods.ends_on) == (days(-10), None)
    assert (floods.enrollment_multiplier, floods.freeze_activations) == (0.5, True)
    assert (floods.organization_id, floods.notes, floods.version) == (
        clinic.sponsor_id, "River Oder", 1,
    )  # fmt: skip
    page = client.get(url).text
    assert _flash(page) == ["Disruption “Floods in Poland” declared."]
    applied = _section(page, "forecast-disruptions", "</p>")
    assert "Floods in Poland (PL" in applied and "enrollment × 0.5, activations frozen" in applied
    assert 'data-testid="forecast-p50-without"' in page  # with and without it
    row = _row(page, floods.id)
    assert f'href="/studies/{study_id}/disruptions/{floods.id}/edit"' in row
    assert "End today" in row and 'data-state="open"' in row

    # edit: a dedicated form page, back to the study page as it was
    edit = client.get(f"/studies/{study_id}/disruptions/{floods.id}/edit")
    assert edit.status_code == 200
    assert 'value="Floods in Poland"' in edit.text and 'name="version" value="1"' in edit.text
    saved = client.post(
        f"/studies/{study_id}/disruptions/{floods.id}/edit",
        data={**_form(enrollment_multiplier="0.25"), "freeze_activations": "", "version": "1",
              "csrf_token": token, "next": back},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"] == back
    (floods,) = _stored(clinic)
    assert (floods.enrollment_multiplier, floods.freeze_activations, floods.version) == (
        0.25, False, 2,
    )  # fmt: skip
    page = client.get(url).text
    assert _flash(page) == ["Disruption “Floods in Poland” saved."]
    applied = _section(page, "forecast-disruptions", "</p>")
    assert "enrollment × 0.25)" in applied and "activations frozen" not in applied

    # end today: an update of ends_on through parties.end_disruption
    ended = client.post(
        f"/studies/{study_id}/disruptions/{floods.id}/end",
        data={"version": "2", "csrf_token": token, "next": back},
        follow_redirects=False,
    )
    assert ended.status_code == 303 and ended.headers["location"] == back
    (floods,) = _stored(clinic)
    assert (floods.ends_on, floods.version, floods.title) == (TODAY, 3, "Floods in Poland")
    page = client.get(url).text
    assert _flash(page) == ["Disruption “Floods in Poland” ended today."]
    row = _row(page, floods.id)
    assert 'data-state="open">ends today<' in row and "End today" not in row
    assert f"to {TODAY.isoformat()}" in _section(page, "forecast-disruptions", "</p>")

    # delete asks for a confirmation first, like the app's other delete buttons
    assert "onsubmit=\"return confirm('Delete this disruption?" in row
    deleted = client.post(
        f"/studies/{study_id}/disruptions/{floods.id}/delete",
        data={"csrf_token": token, "next": back},
        follow_redirects=False,
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == back
    assert _stored(clinic) == []
    page = client.get(url).text
    assert _flash(page) == ["Disruption “Floods in Poland” deleted."]
    assert 'data-testid="forecast-disruptions"' not in page
    assert 'data-testid="forecast-p50-without"' not in page
    assert 'data-testid="disruptions-empty"' in page


def test_a_region_of_a_study_country_and_a_disruption_outside_the_study(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic, disruption=False)
    login(client, clinic.emails["manager"])
    token = csrf(client, f"/studies/{study_id}?{FAST}")
    client.post(
        f"/studies/{study_id}/disruptions",
        data={**_form(title="Heat wave", country="", region="Europe"), "csrf_token": token},
    )
    (heat,) = _stored(clinic)
    assert (heat.country, heat.region) == (None, "Europe")
    page = client.get(f"/studies/{study_id}?{FAST}").text
    assert 'Europe <span class="small text-muted">(region)</span>' in _row(page, heat.id)
    assert "Heat wave (Europe" in _section(page, "forecast-disruptions", "</p>")
    # a crafted post on another country is declared (it is the organisation's own) but the page
    # says it does not apply to this study
    landed = client.post(
        f"/studies/{study_id}/disruptions",
        data={**_form(title="Typhoon", country="JP"), "csrf_token": token},
    )
    assert landed.status_code == 200
    assert "It does not touch the study&#39;s countries" in _flash(landed.text)[0]
    assert "Typhoon" not in _section(landed.text, "disruptions", "</table>")


def test_invalid_input_shows_the_errors_and_stores_nothing(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic, disruption=False)
    epidemic = _declare(clinic)
    login(client, clinic.emails["manager"])
    token = csrf(client, f"/studies/{study_id}?{FAST}")
    events = _events(clinic)

    bad = client.post(
        f"/studies/{study_id}/disruptions",
        data={**_form(enrollment_multiplier="1.5"), "csrf_token": token},
    )
    assert bad.status_code == 422
    assert 'data-field-error="enrollment_multiplier"' in bad.text
    assert "less than or equal to 1" in bad.text
    assert 'value="Floods in Poland"' in bad.text and 'value="1.5"' in bad.text  # input kept
    assert 'data-testid="form-error"' in bad.text

    both = client.post(
        f"/studies/{study_id}/disruptions",
        data={**_form(region="Europe"), "csrf_token": token},
    )  # the parties service's rule: one country or one region
    assert both.status_code == 422
    assert 'data-field-error="country"' in both.text and "not both" in both.text

    edit_url = f"/studies/{study_id}/disruptions/{epidemic.id}/edit"
    bad_edit = client.post(
        edit_url,
        data={**_form(enrollment_multiplier="-0.1"), "version": "1", "csrf_token": token},
    )
    assert bad_edit.status_code == 422
    assert 'data-field-error="enrollment_multiplier"' in bad_edit.text
    assert "greater than or equal to 0" in bad_edit.text
    ends_early = client.post(
        edit_url,
        data={**_form(ends_on=days(-20).isoformat()), "version": "1", "csrf_token": token},
    )
    assert ends_early.status_code == 422 and 'data-field-error="ends_on"' in ends_early.text
    assert [(d.title, d.version) for d in _stored(clinic)] == [("Epidemic in Poland", 1)]
    assert _events(clinic) == events


def test_a_stale_version_answers_409_and_changes_nothing(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic, disruption=False)
    epidemic = _declare(clinic)
    login(client, clinic.emails["manager"])
    token = csrf(client, f"/studies/{study_id}?{FAST}")
    edit_url = f"/studies/{study_id}/disruptions/{epidemic.id}/edit"
    first = client.post(
        edit_url,
        data={**_form(title="First"), "version": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert first.status_code == 303
    events = _events(clinic)

    second = client.post(edit_url, data={**_form(title="Second"), "version": "1",
                                         "csrf_token": token})  # fmt: skip
    assert second.status_code == 409
    error = second.text.split('data-testid="form-error">')[1].split("<")[0]
    assert "(version 2, you sent 1)" in error
    assert 'value="Second"' in second.text  # the typed input survives
    assert 'name="version" value="2"' in second.text  # to apply it again on purpose

    stale_end = client.post(
        f"/studies/{study_id}/disruptions/{epidemic.id}/end",
        data={"version": "1", "csrf_token": token},
    )
    assert stale_end.status_code == 409
    assert "was not ended" in stale_end.text and "(version 2, you sent 1)" in stale_end.text
    (stored,) = _stored(clinic)
    assert (stored.title, stored.version, stored.ends_on) == ("First", 2, None)
    assert _events(clinic) == events


def test_end_today_refuses_a_disruption_that_starts_later(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic, disruption=False)
    coming = _declare(clinic, title="Election", starts_on=days(5))
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study_id}?{FAST}").text
    assert "End today" not in _row(page, coming.id)
    refused = client.post(
        f"/studies/{study_id}/disruptions/{coming.id}/end",
        data={"version": "1", "csrf_token": csrf_of(page)},
    )
    assert refused.status_code == 422
    assert f"must be on or after {days(5).isoformat()}" in refused.text
    assert _stored(clinic)[0].ends_on is None


def test_other_organisations_cannot_touch_the_disruptions(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic, disruption=False)
    epidemic = _declare(clinic)
    events = _events(clinic)
    base = f"/studies/{study_id}/disruptions"
    writes = [
        (base, _form()),
        (f"{base}/{epidemic.id}/edit", {**_form(title="Hijacked"), "version": "1"}),
        (f"{base}/{epidemic.id}/end", {"version": "1"}),
        (f"{base}/{epidemic.id}/delete", {}),
    ]
    # another sponsor does not see the study: 404, like an unknown id
    login(client, clinic.emails["stranger"])
    token = csrf(client, "/studies")
    assert client.get(f"/studies/{study_id}").status_code == 404
    assert client.get(f"{base}/{epidemic.id}/edit").status_code == 404
    for path, data in writes:
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    # the study's CRO sees the study but not the sponsor's (private) disruption
    login(client, clinic.emails["cro"])
    page = client.get(f"/studies/{study_id}?{FAST}")
    assert page.status_code == 200 and "Epidemic in Poland" not in page.text
    token = csrf_of(page.text)
    assert client.get(f"{base}/{epidemic.id}/edit").status_code == 404
    for path, data in writes[1:]:
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    assert client.get(f"{base}/{uuid.uuid4()}/edit").status_code == 404
    (stored,) = _stored(clinic)
    assert (stored.title, stored.version, stored.ends_on) == ("Epidemic in Poland", 1, None)
    assert _events(clinic) == events
    # the CRO's own disruptions are its own: declared from the same page for the CRO
    added = client.post(
        base, data={**_form(title="CRO strike"), "csrf_token": token}, follow_redirects=False
    )
    assert added.status_code == 303
    cro_side = parties.list_disruptions(clinic.session, clinic["cro"])
    assert [(d.title, d.organization_id) for d in cro_side] == [("CRO strike", clinic.cro_id)]
    assert [d.title for d in _stored(clinic)] == ["Epidemic in Poland"]


def test_a_viewer_sees_the_disruptions_without_forms_and_cannot_write(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _demo_like(clinic, disruption=False)
    epidemic = _declare(clinic)
    events = _events(clinic)
    login(client, clinic.emails["viewer"])
    page = client.get(f"/studies/{study_id}?{FAST}")
    assert page.status_code == 200
    html = page.text
    assert "Epidemic in Poland" in _row(html, epidemic.id)
    for testid in ("disruption-form", "add-disruption", "edit-disruption", "end-disruption",
                   "delete-disruption"):  # fmt: skip
        assert f'data-testid="{testid}"' not in html, testid
    assert f"/disruptions/{epidemic.id}/end" not in html
    token = csrf_of(html)
    base = f"/studies/{study_id}/disruptions"
    assert client.get(f"{base}/new").status_code == 403
    assert client.get(f"{base}/{epidemic.id}/edit").status_code == 403
    for path, data in [
        (base, _form()),
        (base, _form(enrollment_multiplier="7")),  # refused before its input is looked at
        (f"{base}/{epidemic.id}/edit", {**_form(title="Changed"), "version": "1"}),
        (f"{base}/{epidemic.id}/end", {"version": "1"}),
        (f"{base}/{epidemic.id}/delete", {}),
    ]:
        answer = client.post(path, data={**data, "csrf_token": token})
        assert answer.status_code == 403, path
        assert "your role does not grant disruptions:write" in answer.text
    (stored,) = _stored(clinic)
    assert (stored.title, stored.version, stored.ends_on) == ("Epidemic in Poland", 1, None)
    assert _events(clinic) == events


def test_the_new_disruption_page_is_prefilled_for_the_study(
    client: TestClient, clinic: Clinic
) -> None:
    study = clinic.study()
    clinic.site(study.id, "PL-001", country="PL", activated=days(-30))
    clinic.session.commit()
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study.id}/disruptions/new")
    assert page.status_code == 200
    assert re.findall(r'<option value="([A-Z]{2})"[^>]*selected', page.text) == ["PL"]
    assert f'name="starts_on" value="{TODAY.isoformat()}"' in page.text
    regions = _after(page.text, 'id="region"', "</select>")
    assert re.findall(r'<option value="([^"]*)"', regions) == ["", "Europe"]


# --- the header's links ------------------------------------------------------------------------


@pytest.mark.parametrize("person", ["manager", "viewer", "cro", "cro_viewer"])
def test_the_header_links_to_the_status_report_and_the_recovery_plan(
    client: TestClient, clinic: Clinic, person: str
) -> None:
    study = clinic.study()
    clinic.session.commit()
    login(client, clinic.emails[person])
    html = client.get(f"/studies/{study.id}").text
    actions = _section(html, "study-actions", "</div>")
    assert f'href="/studies/{study.id}/report"' in actions and "Status report" in actions
    assert f'href="/studies/{study.id}/recovery"' in actions and "Recovery plan" in actions


# --- the sites table ---------------------------------------------------------------------------


def _site(
    clinic: Clinic,
    study_id: uuid.UUID,
    code: str,
    name: str,
    country: str,
    status: str,
    *,
    activated: int | None,
    planned: int | None,
    enrolled: int = 0,
) -> None:
    site = service.create_site(
        clinic.session,
        clinic["cro"],
        study_id,
        SiteCreate.model_validate(
            {
                "code": code,
                "name": name,
                "country": country,
                "status": status,
                "actual_activation_date": days(activated) if activated is not None else None,
                "planned_activation_date": days(planned) if planned is not None else None,
            }
        ),
    )
    if enrolled:
        service.add_enrollment(
            clinic.session, clinic["cro"], site.id,
            EnrollmentCreate(on_date=days(-1), enrolled=enrolled),
        )  # fmt: skip


def _six_sites(clinic: Clinic) -> uuid.UUID:
    study = clinic.study()
    for code, name, country, status, activated, planned, enrolled in [
        ("S-01", "Oak Clinic", "US", "active", -100, -120, 5),
        ("S-02", "alder Hospital", "DE", "planned", None, -10, 0),
        ("S-03", "Maple Centre", "PL", "active", -200, -210, 12),
        ("S-04", "birch Institute", "DE", "on_hold", -150, None, 3),
        ("S-05", "Cedar Unit", "US", "closed", -250, -260, 5),
        ("S-06", "elm Site", "PL", "activating", None, 30, 0),
    ]:
        _site(clinic, study.id, code, name, country, status, activated=activated,
              planned=planned, enrolled=enrolled)  # fmt: skip
    clinic.session.commit()
    return study.id


def _codes(html: str) -> list[str]:
    return re.findall(r'data-testid="site-row" data-code="([^"]+)"', html)


SORTED = {
    "code": ["S-01", "S-02", "S-03", "S-04", "S-05", "S-06"],
    "-code": ["S-06", "S-05", "S-04", "S-03", "S-02", "S-01"],
    "name": ["S-02", "S-04", "S-05", "S-06", "S-03", "S-01"],  # case-blind
    "-name": ["S-01", "S-03", "S-06", "S-05", "S-04", "S-02"],
    "country": ["S-02", "S-04", "S-03", "S-06", "S-01", "S-05"],  # ties by code
    "-country": ["S-01", "S-05", "S-03", "S-06", "S-02", "S-04"],
    "status": ["S-02", "S-06", "S-01", "S-03", "S-04", "S-05"],  # the lifecycle order
    "-status": ["S-05", "S-04", "S-01", "S-03", "S-06", "S-02"],
    "enrolled": ["S-02", "S-06", "S-04", "S-01", "S-05", "S-03"],
    "-enrolled": ["S-03", "S-01", "S-05", "S-04", "S-02", "S-06"],
    "activated": ["S-05", "S-03", "S-04", "S-01", "S-02", "S-06"],  # not activated: last
    "-activated": ["S-01", "S-04", "S-03", "S-05", "S-02", "S-06"],
    "planned_activation": ["S-05", "S-03", "S-01", "S-02", "S-06", "S-04"],
    "-planned_activation": ["S-06", "S-02", "S-01", "S-03", "S-05", "S-04"],
}


def test_the_sites_table_sorts_by_each_column_both_ways(client: TestClient, clinic: Clinic) -> None:
    study_id = _six_sites(clinic)
    login(client, clinic.emails["manager"])
    assert _codes(client.get(f"/studies/{study_id}?{FAST}").text) == SORTED["code"]
    for sort, expected in SORTED.items():
        page = client.get(f"/studies/{study_id}?{FAST}&sort={sort}")
        assert page.status_code == 200, page.text
        assert _codes(page.text) == expected, sort
        header = _after(page.text, f'data-sort="{sort.lstrip("-")}"', "</a>")
        direction = "descending" if sort.startswith("-") else "ascending"
        assert f'aria-sort="{direction}"' in header, sort
    # the headers keep the forecast options and the filters, go back to page 1 and to the table
    page = client.get(f"/studies/{study_id}?{FAST}&country=PL&sort=name").text
    assert 'href="?paths=200&amp;seed=3&amp;country=PL&amp;sort=-name&amp;page=1#sites"' in page
    assert 'href="?paths=200&amp;seed=3&amp;country=PL&amp;sort=enrolled&amp;page=1#sites"' in page
    # … and the forecast form keeps the table's state
    forecast_form = _section(page, "forecast-form")
    assert '<input type="hidden" name="country" value="PL">' in forecast_form
    assert '<input type="hidden" name="sort" value="name">' in forecast_form


def test_an_unknown_sort_key_falls_back_to_the_site_code(
    client: TestClient, clinic: Clinic
) -> None:
    study_id = _six_sites(clinic)
    login(client, clinic.emails["manager"])
    for sort in ("bogus", "-investigator", "-"):
        page = client.get(f"/studies/{study_id}?{FAST}&sort={sort}")
        assert page.status_code == 200
        assert _codes(page.text) == SORTED["code"], sort
        assert 'aria-sort="ascending"' in _after(page.text, 'data-sort="code"', "</a>")
    assert client.get(f"/studies/{study_id}?sort={'x' * 41}").status_code == 422
    assert client.get(f"/studies/{study_id}?page=0").status_code == 422
    assert client.get(f"/studies/{study_id}?page=two").status_code == 422


def test_the_sites_table_filters_by_country_and_status(client: TestClient, clinic: Clinic) -> None:
    study_id = _six_sites(clinic)
    login(client, clinic.emails["manager"])
    page = client.get(f"/studies/{study_id}?{FAST}&country=PL").text
    assert _codes(page) == ["S-03", "S-06"]
    assert 'data-testid="sites-count">2 of 6<' in page
    assert 'href="?paths=200&amp;seed=3#sites" data-testid="sites-clear"' in page
    assert _codes(client.get(f"/studies/{study_id}?{FAST}&status=active").text) == [
        "S-01", "S-03",
    ]  # fmt: skip
    both = client.get(f"/studies/{study_id}?{FAST}&country=us&status=closed&sort=-code").text
    assert _codes(both) == ["S-05"]
    # the filter form keeps the forecast options and the order
    filters = _section(both, "sites-filter")
    assert '<input type="hidden" name="paths" value="200">' in filters
    assert '<input type="hidden" name="sort" value="-code">' in filters
    assert '<option value="US" selected>' in filters
    none = client.get(f"/studies/{study_id}?{FAST}&country=DE&status=active").text
    assert _codes(none) == [] and 'data-testid="sites-none-shown"' in none
    assert "No site of this study matches the filters." in none
    # unknown values are ignored, as on the studies list
    assert (
        _codes(client.get(f"/studies/{study_id}?{FAST}&status=sleeping&country=FR").text)
        == (SORTED["code"])
    )


def test_the_sites_table_is_paged_by_25(client: TestClient, clinic: Clinic) -> None:
    study = clinic.study()
    for n in range(1, 31):
        clinic.site(study.id, f"S-{n:03d}", activated=days(-10) if n % 2 else None)
    clinic.session.commit()
    login(client, clinic.emails["manager"])
    first = client.get(f"/studies/{study.id}?{FAST}").text
    assert _codes(first) == [f"S-{n:03d}" for n in range(1, 26)]
    assert "Page 1 of 2 · 30 in all" in first
    assert 'href="?paths=200&amp;seed=3&amp;page=2#sites">Next' in first
    assert 'data-testid="sites-count">30<' in first
    second = client.get(f"/studies/{study.id}?{FAST}&page=2").text
    assert _codes(second) == [f"S-{n:03d}" for n in range(26, 31)]
    assert "Page 2 of 2 · 30 in all" in second
    assert 'href="?paths=200&amp;seed=3&amp;page=1#sites">Previous' in second
    backwards = client.get(f"/studies/{study.id}?{FAST}&sort=-code&page=2").text
    assert _codes(backwards) == ["S-005", "S-004", "S-003", "S-002", "S-001"]
    planned = client.get(f"/studies/{study.id}?{FAST}&status=planned&page=1").text
    assert len(_codes(planned)) == 15 and "Page 1 of 2" not in planned  # one page: no pager
    beyond = client.get(f"/studies/{study.id}?{FAST}&page=3").text
    assert _codes(beyond) == [] and "There is no page 3" in beyond
    # the page's summary still counts every site
    assert 'data-testid="sites-by-status"' in beyond and "30" in beyond
