"""Sourcing pages through the real app: programs, RFPs, sealed bids, comparison, award,
notifications — each page for the right user, forms that write through the services, field
errors next to their fields, sealed bids never in the sponsor's HTML, 404 for other organisations."""

from __future__ import annotations

import html
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opencxo.core.auth.models import User
from opencxo.core.notifications import Notification, NotificationRead
from opencxo.core.signatures import Signature
from opencxo.core.types import utcnow
from opencxo.sourcing import service
from opencxo.sourcing.models import Award, Bid, BidLine, Invitation, Lot, Program, Question, Rfp
from opencxo.sourcing.schemas import (
    BidInput,
    ExchangeRates,
    InvitationCreate,
    ProgramCreate,
    RfpCreate,
    Transition,
)
from tests.factories import (
    make_organization,
    make_provider,
    make_qualification,
    make_user,
    principal_of,
)
from tests.web.conftest import csrf, csrf_of, login

IN_A_WEEK = utcnow() + timedelta(days=7)


# --- the world: a sponsor, three providers in three standings, a rival sponsor ------------------


@dataclass
class Market:
    sponsor_id: uuid.UUID
    manager: User
    viewer: User
    approved_id: uuid.UUID  # Shanghai API Works, approved, CN
    approved_user: User
    conditional_id: uuid.UUID  # Mumbai Pharma, conditional, IN
    conditional_user: User
    disqualified_id: uuid.UUID  # Bad Labs, disqualified, DE
    rival_manager: User


@pytest.fixture
def market(session: Session) -> Market:
    sponsor = make_organization(session, name="Acme Therapeutics", country="US")
    manager = make_user(
        session, organization_id=sponsor.id, role="manager", email="manager@acme.example"
    )
    viewer = make_user(
        session, organization_id=sponsor.id, role="viewer", email="viewer@acme.example"
    )
    approved = make_provider(
        session, name="Shanghai API Works", country="CN", service_codes=("CMC-GMPAPI",)
    )
    approved_user = make_user(
        session, organization_id=approved.id, role="manager", email="bids@shanghai.example"
    )
    conditional = make_provider(
        session,
        name="Mumbai Pharma",
        country="IN",
        service_codes=("CMC-GMPAPI", "CLIN-MONITOR"),
    )
    conditional_user = make_user(
        session, organization_id=conditional.id, role="member", email="bids@mumbai.example"
    )
    disqualified = make_provider(
        session, name="Bad Labs", country="DE", service_codes=("CMC-GMPAPI",)
    )
    make_qualification(session, sponsor_user=manager, provider_id=approved.id)
    make_qualification(
        session, sponsor_user=manager, provider_id=conditional.id, status="conditional"
    )
    make_qualification(
        session, sponsor_user=manager, provider_id=disqualified.id, status="disqualified"
    )
    rival = make_organization(session, name="Rival Pharma", country="GB")
    rival_manager = make_user(
        session, organization_id=rival.id, role="manager", email="manager@rival.example"
    )
    session.commit()
    return Market(
        sponsor.id,
        manager,
        viewer,
        approved.id,
        approved_user,
        conditional.id,
        conditional_user,
        disqualified.id,
        rival_manager,
    )


@pytest.fixture
def as_user(client: TestClient) -> Callable[[str], TestClient]:
    """A client logged in as the given user (each its own cookie jar)."""

    def make(email: str) -> TestClient:
        other = TestClient(client.app)
        login(other, email)
        return other

    return make


def _program(session: Session, market: Market, name: str = "NW-101") -> Program:
    created = service.create_program(
        session,
        principal_of(session, market.manager),
        ProgramCreate(
            name=name,
            modality="small_molecule",  # type: ignore[arg-type]
            therapeutic_area="Oncology",
            indication="NSCLC",
            phase="phase_2",  # type: ignore[arg-type]
        ),
    )
    session.commit()
    program = session.get(Program, created.id)
    assert program is not None
    return program


def _rfp(
    session: Session,
    market: Market,
    *,
    invite: tuple[uuid.UUID, ...] = (),
    publish: bool = False,
    budget_shared: bool = False,
) -> uuid.UUID:
    """A two-lot RFP (API 40 kg; monitoring) made through the service."""
    program = _program(session, market)
    sponsor = principal_of(session, market.manager)
    rfp = service.create_rfp(
        session,
        sponsor,
        RfpCreate(
            program_id=program.id,
            title="Phase II API and monitoring",
            background="Scale-up of the API for the Phase II study.",
            bid_deadline=IN_A_WEEK,
            required_certifications=["GMP"],  # type: ignore[list-item]
            budget_amount=Decimal("750000.00"),
            budget_currency="USD",
            budget_shared=budget_shared,
            lots=[
                {  # type: ignore[list-item]
                    "title": "API 40 kg",
                    "service_code": "CMC-GMPAPI",
                    "scope": {
                        "quantity_kg": 40,
                        "grade": "GMP",
                        "target_delivery_date": "2027-06-01",
                    },
                },
                {  # type: ignore[list-item]
                    "title": "Monitoring",
                    "service_code": "CLIN-MONITOR",
                    "scope": {"phase": "II", "patients": 240, "countries": "US, DE"},
                },
            ],
        ),
    )
    for provider_id in invite:
        rfp = service.invite(
            session,
            sponsor,
            rfp.id,
            InvitationCreate(provider_id=provider_id, acknowledge_warning=True),
        )
    if publish:
        service.publish_rfp(session, sponsor, rfp.id, Transition(version=rfp.version))
    session.commit()
    return rfp.id


def _lot_ids(session: Session, rfp_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(Lot.id).where(Lot.rfp_id == rfp_id).order_by(Lot.number)))


def _bid(
    session: Session,
    user: User,
    rfp_id: uuid.UUID,
    lines: list[tuple[str, str, str, int]],
    *,
    lot: int = 0,
    duration: int = 150,
) -> None:
    """A submitted bid on one lot: (description, amount, currency, due offset) per line."""
    principal = principal_of(session, user)
    bid = service.save_bid(
        session,
        principal,
        rfp_id,
        BidInput.model_validate(
            {
                "lots": [
                    {
                        "lot_id": _lot_ids(session, rfp_id)[lot],
                        "start_date": "2027-01-04",
                        "duration_days": duration,
                        "lines": [
                            {"description": d, "amount": a, "currency": c, "due_offset_days": o}
                            for d, a, c, o in lines
                        ],
                    }
                ]
            }
        ),
    )
    service.submit_bid(session, principal, rfp_id, Transition(version=bid.version))
    session.commit()


def _close(session: Session, rfp_id: uuid.UUID) -> None:
    """Move the deadline into the past (the RFP closes the first time anyone looks)."""
    session.execute(
        update(Rfp).where(Rfp.id == rfp_id).values(bid_deadline=utcnow() - timedelta(minutes=1))
    )
    session.commit()


def _version(session: Session, rfp_id: uuid.UUID) -> int:
    session.expire_all()
    rfp = session.get(Rfp, rfp_id)
    assert rfp is not None
    return rfp.version


def _field_error(page: str, name: str) -> str:
    match = re.search(rf'data-field-error="{re.escape(name)}">([^<]*)<', page)
    assert match, f"no error shown for {name}"
    return html.unescape(match.group(1))


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def _rfp_form(program_id: uuid.UUID, **changes: str) -> dict[str, str]:
    data = {
        "program_id": str(program_id),
        "title": "Phase II API supply",
        "background": "Scale-up for Phase II.",
        "bid_deadline": (utcnow() + timedelta(days=10)).strftime("%Y-%m-%dT17:00"),
        "bid_timezone": "UTC",
        "weight_price": "40",
        "weight_time": "20",
        "weight_quality": "25",
        "weight_risk": "15",
        "allowed_countries": "",
        "excluded_countries": "",
        "budget_amount": "",
        "budget_currency": "",
        "base_currency": "USD",
        "lots.1.title": "API 40 kg",
        "lots.1.service_code": "CMC-GMPAPI",
        "lots.1.scope.quantity_kg": "40",
        "lots.1.scope.grade": "GMP",
        "lots.1.scope.target_delivery_date": "2027-06-01",
        "action": "save",
    }
    data.update(changes)
    return data


# --- navigation, notifications and the Plotly asset --------------------------------------------


def test_sponsor_and_provider_each_get_their_navigation(
    as_user: Callable[[str], TestClient], market: Market
) -> None:
    sponsor = as_user("manager@acme.example").get("/").text
    assert 'href="/programs"' in sponsor
    assert '>\n        <i class="bi bi-envelope-paper"></i> RFPs &amp; bids' not in sponsor
    assert re.search(r'href="/rfps"><i class="bi bi-file-earmark-text"></i> RFPs</a>', sponsor)
    assert 'hx-get="/notifications/badge"' in sponsor
    provider = as_user("bids@shanghai.example").get("/").text
    assert 'href="/programs"' not in provider
    assert re.search(
        r'href="/rfps"><i class="bi bi-envelope-paper"></i> RFPs &amp; bids</a>', provider
    )
    assert 'hx-get="/notifications/badge"' in provider


def test_plotly_is_served_from_the_installed_package(client: TestClient) -> None:
    response = client.get("/assets/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert len(response.content) > 1_000_000
    assert b"plotly" in response.content[:2000].lower()


def test_notifications_badge_list_and_mark_read(
    client: TestClient, as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    assert client.get("/notifications/badge").status_code == 204  # no session: keep the bell
    make_user(session, organization_id=market.approved_id, email="colleague@shanghai.example")
    session.commit()
    provider = as_user("bids@shanghai.example")
    empty = provider.get("/notifications")
    assert 'data-testid="notifications-empty"' in empty.text
    assert 'data-testid="unread-count"' not in provider.get("/notifications/badge").text

    rfp_id = _rfp(session, market, invite=(market.approved_id,), publish=True)
    badge = provider.get("/notifications/badge").text
    assert re.search(r'data-testid="unread-count">1<', badge)
    page = provider.get("/notifications")
    assert "You are invited to bid on “Phase II API and monitoring”" in page.text
    assert f'href="/rfps/{rfp_id}"' in page.text
    assert "notification-unread" in page.text

    response = provider.post(
        "/notifications/read", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    session.expire_all()
    reads = session.scalars(select(NotificationRead)).all()
    bids = session.scalars(select(User).where(User.email == "bids@shanghai.example")).one()
    assert [(r.user_id, r.notification_id) for r in reads] == [
        (bids.id, session.scalars(select(Notification.id)).one())
    ]
    assert 'data-testid="unread-count"' not in provider.get("/notifications/badge").text
    after = provider.get("/notifications")
    assert "All notifications marked as read." in after.text
    assert "notification-unread" not in after.text
    # read for the one who read it: a colleague still has it as new
    colleague = as_user("colleague@shanghai.example")
    assert re.search(r'data-testid="unread-count">1<', colleague.get("/notifications/badge").text)
    assert "notification-unread" in colleague.get("/notifications").text


# --- programs ----------------------------------------------------------------------------------


def test_programs_empty_state_then_create_through_the_form(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    sponsor = as_user("manager@acme.example")
    listing = sponsor.get("/programs")
    assert listing.status_code == 200
    assert 'data-testid="programs-empty"' in listing.text
    form = sponsor.get("/programs/new")
    assert form.status_code == 200
    response = sponsor.post(
        "/programs",
        data={
            "csrf_token": csrf_of(form.text),
            "name": "NW-101",
            "modality": "biologic",
            "therapeutic_area": "Oncology",
            "indication": "Non-small-cell lung cancer",
            "phase": "phase_1",
            "patent_expiry": "2034-06-30",
            "description": "Anti-PD-L1 bispecific.",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    session.expire_all()
    program = session.scalars(select(Program)).one()
    assert response.headers["location"] == f"/programs/{program.id}"
    assert (program.name, program.modality, program.phase) == ("NW-101", "biologic", "phase_1")
    assert program.patent_expiry == date(2034, 6, 30)
    assert program.sponsor_id == market.sponsor_id
    assert program.owner_user_id == market.manager.id
    detail = sponsor.get(response.headers["location"])
    assert "Program NW-101 created." in detail.text
    assert 'data-testid="program-phase">Phase 1<' in detail.text
    assert 'data-testid="program-rfps-empty"' in detail.text
    assert f'href="/rfps/new?program_id={program.id}"' in detail.text
    assert "NW-101" in sponsor.get("/programs").text


def test_program_form_errors_keep_the_input(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    _program(session, market, "NW-101")
    sponsor = as_user("manager@acme.example")
    token = csrf(sponsor, "/programs/new")
    data = {
        "csrf_token": token,
        "name": "NW-102",
        "modality": "vaccine",
        "therapeutic_area": "",
        "indication": "RSV",
        "phase": "preclinical",
    }
    response = sponsor.post("/programs", data=data)
    assert response.status_code == 422
    assert "at least 2 characters" in _field_error(response.text, "therapeutic_area")
    assert 'value="NW-102"' in response.text and 'value="RSV"' in response.text
    duplicate = sponsor.post("/programs", data={**data, "name": "nw-101", "therapeutic_area": "ID"})
    assert duplicate.status_code == 409
    assert _field_error(duplicate.text, "name") == "already used"
    assert _count(session, Program) == 1


def test_edit_a_program(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    program = _program(session, market)
    sponsor = as_user("manager@acme.example")
    page = sponsor.get(f"/programs/{program.id}")
    response = sponsor.post(
        f"/programs/{program.id}",
        data={
            "csrf_token": csrf_of(page.text),
            "version": "1",
            "name": "NW-101",
            "modality": "small_molecule",
            "therapeutic_area": "Oncology",
            "indication": "NSCLC",
            "phase": "phase_3",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Program, program.id).phase == "phase_3"  # type: ignore[union-attr]
    stale = sponsor.post(
        f"/programs/{program.id}",
        data={"csrf_token": csrf_of(page.text), "version": "1", "name": "NW-101",
              "modality": "small_molecule", "therapeutic_area": "Oncology",
              "indication": "NSCLC", "phase": "marketed"},
    )  # fmt: skip
    assert stale.status_code == 409
    assert "<details" in stale.text and "open" in stale.text


def test_programs_of_another_sponsor_are_404_and_providers_cannot_create(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    program = _program(session, market)
    rival = as_user("manager@rival.example")
    assert rival.get(f"/programs/{program.id}").status_code == 404
    assert "NW-101" not in rival.get("/programs").text
    provider = as_user("bids@shanghai.example")
    response = provider.post(
        "/programs",
        data={"csrf_token": csrf(provider, "/programs/new"), "name": "X-1", "modality": "vaccine",
              "therapeutic_area": "ID", "indication": "Flu", "phase": "discovery"},
    )  # fmt: skip
    assert response.status_code == 403
    assert _count(session, Program) == 1


# --- the RFP form ------------------------------------------------------------------------------


def test_scope_fields_follow_the_service_and_lots_can_be_added(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    program = _program(session, market)
    sponsor = as_user("manager@acme.example")
    page = sponsor.get(f"/rfps/new?program_id={program.id}")
    assert page.status_code == 200
    assert f'<option value="{program.id}" selected>' in page.text
    assert 'hx-get="/rfp-form/lots/1/scope"' in page.text
    assert 'hx-get="/rfp-form/lots/2"' in page.text

    api = sponsor.get("/rfp-form/lots/1/scope", params={"lots.1.service_code": "CMC-GMPAPI"})
    assert re.findall(r'name="(lots\.1\.scope\.[a-z_]+)"', api.text) == [
        "lots.1.scope.quantity_kg",
        "lots.1.scope.grade",
        "lots.1.scope.target_delivery_date",
    ]
    clinical = sponsor.get("/rfp-form/lots/1/scope", params={"lots.1.service_code": "CLIN-MONITOR"})
    assert re.findall(r'name="(lots\.1\.scope\.[a-z_]+)"', clinical.text) == [
        "lots.1.scope.phase",
        "lots.1.scope.patients",
        "lots.1.scope.countries",
    ]
    slot = sponsor.get("/rfp-form/lots/2")
    assert 'name="lots.2.title"' in slot.text
    assert 'id="add-lot"' in slot.text and 'hx-get="/rfp-form/lots/3"' in slot.text
    assert 'hx-swap-oob="true"' in slot.text

    # Without JavaScript, "Add lot" posts the form and comes back with one more slot.
    more = sponsor.post(
        "/rfps",
        data={**_rfp_form(program.id), "csrf_token": csrf_of(page.text), "action": "add_lot"},
    )
    assert more.status_code == 200
    assert 'name="lots.2.title"' in more.text and 'value="API 40 kg"' in more.text
    assert _count(session, Rfp) == 0


def test_create_an_rfp_through_the_form(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    program = _program(session, market)
    sponsor = as_user("manager@acme.example")
    token = csrf(sponsor, "/rfps/new")
    data = _rfp_form(
        program.id,
        bid_deadline="2031-03-31T17:00",
        bid_timezone="Europe/Paris",
        weight_price="50",
        weight_time="10",
        weight_quality="30",
        weight_risk="10",
        allowed_countries="cn, in, DE",
        excluded_countries="RU",
        budget_amount="1250000.50",
        budget_currency="EUR",
        budget_shared="true",
        base_currency="EUR",
        **{
            "lots.3.title": "Monitoring",
            "lots.3.service_code": "CLIN-MONITOR",
            "lots.3.scope.phase": "II",
            "lots.3.scope.patients": "240",
            "lots.3.scope.countries": "US, DE, PL",
            "lots.2.title": "",  # an empty slot between two lots is dropped
            "lots.2.service_code": "",
        },
    )
    response = sponsor.post(
        "/rfps",
        data={**data, "csrf_token": token, "required_certifications[]": ["GMP", "GCP"]},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    session.expire_all()
    rfp = session.scalars(select(Rfp)).one()
    assert response.headers["location"] == f"/rfps/{rfp.id}"
    assert rfp.status == "draft" and rfp.title == "Phase II API supply"
    # 17:00 in Paris on 31 March 2031 (summer time, UTC+2) is 15:00 UTC.
    assert rfp.bid_deadline.astimezone(UTC) == datetime(2031, 3, 31, 15, 0, tzinfo=UTC)
    assert (rfp.weight_price, rfp.weight_time, rfp.weight_quality, rfp.weight_risk) == (
        50,
        10,
        30,
        10,
    )
    assert rfp.required_certifications == ["GMP", "GCP"]
    assert rfp.allowed_countries == ["CN", "IN", "DE"] and rfp.excluded_countries == ["RU"]
    assert rfp.budget_amount == Decimal("1250000.50") and rfp.budget_currency == "EUR"
    assert rfp.budget_shared is True and rfp.base_currency == "EUR"
    lots = session.scalars(select(Lot).where(Lot.rfp_id == rfp.id).order_by(Lot.number)).all()
    assert [(lot.number, lot.title, lot.service_code) for lot in lots] == [
        (1, "API 40 kg", "CMC-GMPAPI"),
        (2, "Monitoring", "CLIN-MONITOR"),
    ]
    assert lots[0].scope == {
        "quantity_kg": 40.0,
        "grade": "GMP",
        "target_delivery_date": "2027-06-01",
    }
    assert lots[1].scope == {"phase": "II", "patients": 240, "countries": ["US", "DE", "PL"]}
    detail = sponsor.get(f"/rfps/{rfp.id}")
    assert "saved as a draft" in detail.text
    assert 'data-testid="deadline">2031-03-31 15:00 UTC<' in detail.text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"weight_price": "30"}, "weights", "the weights must sum to 100 (they sum to 90)"),
        ({"lots.1.scope.quantity_kg": ""}, "lots.1.scope.quantity_kg",
         "Quantity (kg) is required for this service"),
        ({"lots.1.scope.grade": "food"}, "lots.1.scope.grade", "Grade: choose one of GMP, non-GMP"),
        ({"lots.1.title": "A"}, "lots.1.title", "String should have at least 2 characters"),
        ({"lots.1.service_code": "NOPE-1"}, "lots.1.service_code", "choose a catalog service"),
        ({"bid_deadline": "2020-01-01T10:00"}, "bid_deadline", "the bid deadline must be in the future"),
        ({"bid_deadline": ""}, "bid_deadline", "give the date and time bids are due"),
        ({"allowed_countries": "US, XX"}, "allowed_countries",
         "not ISO 3166-1 alpha-2 country codes: XX"),
        ({"allowed_countries": "US", "excluded_countries": "US"}, "excluded_countries",
         "a country cannot be allowed and excluded"),
        ({"budget_amount": "1000"}, "budget_currency", "give the currency of the budget amount"),
        ({"program_id": ""}, "program_id", "choose one of your programs"),
    ],
)  # fmt: skip
def test_rfp_form_errors_are_shown_next_to_their_field(
    as_user: Callable[[str], TestClient],
    session: Session,
    market: Market,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    program = _program(session, market)
    sponsor = as_user("manager@acme.example")
    data = {**_rfp_form(program.id), **changes, "csrf_token": csrf(sponsor, "/rfps/new")}
    response = sponsor.post("/rfps", data=data)
    assert response.status_code in (409, 422)
    assert _field_error(response.text, field) == message
    assert 'value="Phase II API supply"' in response.text  # nothing typed is lost
    assert _count(session, Rfp) == 0


# A folder of the tz database, a name too long for a file name, a made-up zone: none is a zone.
@pytest.mark.parametrize("zone", ["Europe", "x" * 300, "Mars/Olympus_Mons", "Europe/"])
def test_an_unknown_time_zone_is_a_field_error_and_saves_nothing(
    as_user: Callable[[str], TestClient], session: Session, market: Market, zone: str
) -> None:
    rfp_id = _rfp(session, market)  # a draft, to edit below
    program_id = session.scalars(select(Rfp.program_id)).one()
    sponsor = as_user("manager@acme.example")
    data = {**_rfp_form(program_id, bid_timezone=zone), "csrf_token": csrf(sponsor, "/rfps/new")}
    response = sponsor.post("/rfps", data=data)
    assert response.status_code == 422
    assert _field_error(response.text, "bid_timezone") == "choose a time zone from the list"
    assert 'value="Phase II API supply"' in response.text  # nothing typed is lost
    assert _count(session, Rfp) == 1  # only the draft

    # The edit form reads the zone the same way and leaves the draft as it was.
    page = sponsor.get(f"/rfps/{rfp_id}/edit")
    form = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    form.update({"title": "Renamed", "bid_timezone": zone, "base_currency": "USD"})
    edited = sponsor.post(f"/rfps/{rfp_id}/edit", data=form)
    assert edited.status_code == 422
    assert _field_error(edited.text, "bid_timezone") == "choose a time zone from the list"
    assert _version(session, rfp_id) == 1


def test_every_field_error_of_the_rfp_form_shows_at_once(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    program = _program(session, market)
    sponsor = as_user("manager@acme.example")
    data = _rfp_form(
        program.id,
        weight_risk="5",
        **{
            "lots.1.scope.quantity_kg": "",
            "lots.2.title": "Tox",
            "lots.2.service_code": "PRE-GLPTOX",
            "lots.2.scope.species": "rat",
            "lots.2.scope.duration_weeks": "0",
        },
    )
    response = sponsor.post("/rfps", data={**data, "csrf_token": csrf(sponsor, "/rfps/new")})
    assert response.status_code == 422
    assert _field_error(response.text, "weights") == "the weights must sum to 100 (they sum to 90)"
    assert _field_error(response.text, "lots.1.scope.quantity_kg") == (
        "Quantity (kg) is required for this service"
    )
    assert _field_error(response.text, "lots.2.scope.duration_weeks") == (
        "Duration (weeks): must be at least 1"
    )
    assert 'name="lots.2.scope.species" value="rat"' in response.text


def test_changing_the_service_without_javascript_brings_its_fields(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    program = _program(session, market)
    sponsor = as_user("manager@acme.example")
    data = _rfp_form(program.id, **{"lots.1.service_code": "PRE-GLPTOX"})
    response = sponsor.post("/rfps", data={**data, "csrf_token": csrf(sponsor, "/rfps/new")})
    assert response.status_code == 422
    assert (
        _field_error(response.text, "lots.1.scope.species")
        == "Species is required for this service"
    )
    assert 'name="lots.1.scope.quantity_kg"' not in response.text


def test_edit_a_draft_then_editing_is_closed_after_publishing(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id,))
    sponsor = as_user("manager@acme.example")
    page = sponsor.get(f"/rfps/{rfp_id}/edit")
    assert page.status_code == 200
    assert 'name="lots.2.scope.countries" value="US, DE"' in page.text
    assert 'name="bid_timezone"' in page.text
    form = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    form.update(
        {
            "title": "Phase II API only",
            "weight_price": "40", "weight_time": "20", "weight_quality": "25", "weight_risk": "15",
            "lots.1.service_code": "CMC-GMPAPI", "lots.1.scope.grade": "non-GMP",
            "lots.2.title": "", "lots.2.service_code": "", "lots.2.scope.phase": "",
            "lots.2.scope.patients": "", "lots.2.scope.countries": "",
            "base_currency": "USD", "bid_timezone": "UTC", "budget_currency": "USD",
        }
    )  # fmt: skip
    response = sponsor.post(f"/rfps/{rfp_id}/edit", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    session.expire_all()
    rfp = session.get(Rfp, rfp_id)
    assert rfp is not None and rfp.title == "Phase II API only" and rfp.version == 2
    lots = session.scalars(select(Lot).where(Lot.rfp_id == rfp_id)).all()
    assert [(lot.number, lot.scope["grade"]) for lot in lots] == [(1, "non-GMP")]

    version = _version(session, rfp_id)
    service.publish_rfp(
        session, principal_of(session, market.manager), rfp_id, Transition(version=version)
    )
    session.commit()
    closed = sponsor.get(f"/rfps/{rfp_id}/edit")
    assert "only a draft can be edited" in closed.text


# --- the sponsor's RFP page: invitations, publishing, Q&A --------------------------------------


def test_suggestions_invite_with_warnings_and_publish(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market)
    sponsor = as_user("manager@acme.example")
    page = sponsor.get(f"/rfps/{rfp_id}")
    assert page.status_code == 200
    assert 'data-testid="invitations-empty"' in page.text
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r'data-testid="suggestion" data-provider="([^"]+)">(.*?)</tr>', page.text, re.S)
    }  # fmt: skip
    assert set(rows) == {"Shanghai API Works", "Mumbai Pharma", "Bad Labs"}
    assert 'name="acknowledge_warning"' not in rows["Shanghai API Works"]
    assert 'name="acknowledge_warning"' in rows["Mumbai Pharma"]
    assert "conditionally qualified" in rows["Mumbai Pharma"]
    assert (
        "disabled" in rows["Bad Labs"] and "disqualified by your organisation" in rows["Bad Labs"]
    )

    token = csrf_of(page.text)
    publish_early = sponsor.post(
        f"/rfps/{rfp_id}/publish", data={"csrf_token": token, "version": "1"}
    )
    assert publish_early.status_code == 422
    assert "invite at least one provider before publishing" in publish_early.text

    refused = sponsor.post(
        f"/rfps/{rfp_id}/invitations",
        data={"csrf_token": token, "provider_id": str(market.conditional_id)},
    )
    assert refused.status_code == 422
    assert _field_error(refused.text, "acknowledge_warning") == "confirm the warning"
    disqualified = sponsor.post(
        f"/rfps/{rfp_id}/invitations",
        data={"csrf_token": token, "provider_id": str(market.disqualified_id)},
    )
    assert disqualified.status_code == 422
    assert _count(session, Invitation) == 0

    for provider_id, extra in (
        (market.approved_id, {}),
        (market.conditional_id, {"acknowledge_warning": "true"}),
    ):
        response = sponsor.post(
            f"/rfps/{rfp_id}/invitations",
            data={"csrf_token": token, "provider_id": str(provider_id), **extra},
            follow_redirects=False,
        )
        assert response.status_code == 303
    session.expire_all()
    invited = session.scalars(select(Invitation).where(Invitation.rfp_id == rfp_id)).all()
    assert {(i.provider_id, i.warning) for i in invited} == {
        (market.approved_id, ""),
        (market.conditional_id, "conditionally qualified"),
    }
    page = sponsor.get(f"/rfps/{rfp_id}")
    assert "Mumbai Pharma invited." in page.text
    assert page.text.count('data-testid="bid-received"') == 2
    version = _version(session, rfp_id)
    published = sponsor.post(
        f"/rfps/{rfp_id}/publish",
        data={"csrf_token": token, "version": str(version)},
        follow_redirects=False,
    )
    assert published.status_code == 303
    session.expire_all()
    assert session.get(Rfp, rfp_id).status == "published"  # type: ignore[union-attr]
    page = sponsor.get(f"/rfps/{rfp_id}")
    assert "RFP published; the invited providers have been notified." in page.text
    assert 'data-testid="bids-received">0 of 2<' in page.text
    assert 'data-testid="countdown">6 d 23 h left<' in page.text
    again = sponsor.post(
        f"/rfps/{rfp_id}/publish", data={"csrf_token": token, "version": str(version + 1)}
    )
    assert again.status_code == 409
    assert "cannot publish an RFP that is published" in again.text


def test_cancel_needs_a_reason(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id,), publish=True)
    sponsor = as_user("manager@acme.example")
    token = csrf(sponsor, f"/rfps/{rfp_id}")
    version = str(_version(session, rfp_id))
    short = sponsor.post(
        f"/rfps/{rfp_id}/cancel", data={"csrf_token": token, "version": version, "reason": "x"}
    )
    assert short.status_code == 422
    assert "at least 3 characters" in _field_error(short.text, "reason")
    done = sponsor.post(
        f"/rfps/{rfp_id}/cancel",
        data={"csrf_token": token, "version": version, "reason": "Program on hold"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    session.expire_all()
    rfp = session.get(Rfp, rfp_id)
    assert (
        rfp is not None and rfp.status == "cancelled" and rfp.cancelled_reason == "Program on hold"
    )
    provider = as_user("bids@shanghai.example").get(f"/rfps/{rfp_id}")
    assert "The sponsor cancelled this RFP: Program on hold" in provider.text


def test_questions_are_answered_to_all_without_naming_the_asker(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id, market.conditional_id), publish=True)
    asker = as_user("bids@shanghai.example")
    token = csrf(asker, f"/rfps/{rfp_id}")
    bad = asker.post(f"/rfps/{rfp_id}/questions", data={"csrf_token": token, "question": "Eh"})
    assert bad.status_code == 422
    assert "at least 5 characters" in _field_error(bad.text, "question")
    asked = asker.post(
        f"/rfps/{rfp_id}/questions",
        data={"csrf_token": token, "question": "Is the API micronised?"},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    other = as_user("bids@mumbai.example")
    assert "Is the API micronised?" not in other.get(f"/rfps/{rfp_id}").text

    sponsor = as_user("manager@acme.example")
    page = sponsor.get(f"/rfps/{rfp_id}")
    assert "Is the API micronised?" in page.text
    assert "Shanghai" not in page.text.split('id="questions"')[1].split('id="rates"')[0]
    question = session.scalars(select(Question)).one()
    answered = sponsor.post(
        f"/rfps/{rfp_id}/questions/{question.id}/answer",
        data={"csrf_token": csrf_of(page.text), "version": "1", "answer": "No, as crystallised."},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    seen = other.get(f"/rfps/{rfp_id}").text
    assert "Is the API micronised?" in seen and "No, as crystallised." in seen
    assert "your question" not in seen
    assert "your question" in asker.get(f"/rfps/{rfp_id}").text


# --- the provider's side: lists, the bid form, sealing, the deadline ---------------------------


def test_provider_rfp_list_shows_invitations_with_bid_status_and_countdown(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    provider = as_user("bids@shanghai.example")
    assert 'data-testid="rfps-empty"' in provider.get("/rfps").text
    rfp_id = _rfp(session, market, invite=(market.approved_id,))
    assert 'data-testid="rfps-empty"' in provider.get("/rfps").text  # a draft is not shown
    sponsor = principal_of(session, market.manager)
    service.publish_rfp(session, sponsor, rfp_id, Transition(version=_version(session, rfp_id)))
    session.commit()
    listing = provider.get("/rfps").text
    assert f'href="/rfps/{rfp_id}"' in listing and "Acme Therapeutics" in listing
    assert re.search(r'data-testid="countdown">6 d 23 h left<', listing)
    assert "not started" in listing
    _bid(session, market.approved_user, rfp_id, [("All-in", "1000", "USD", 10)])
    assert re.search(
        r'data-testid="my-bid-status"><span class="badge badge-status-submitted">Submitted',
        provider.get("/rfps").text,
    )
    sponsor_list = as_user("manager@acme.example").get("/rfps?status=published").text
    assert f'href="/rfps/{rfp_id}"' in sponsor_list
    assert (
        'data-testid="rfps-empty"' in as_user("manager@acme.example").get("/rfps?status=draft").text
    )


def test_provider_page_of_the_rfp_hides_the_sponsor_side(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id, market.conditional_id), publish=True)
    page = as_user("bids@shanghai.example").get(f"/rfps/{rfp_id}")
    assert page.status_code == 200
    assert "From <strong>Acme Therapeutics</strong>" in page.text
    assert 'data-testid="budget">not given<' in page.text  # not shared
    assert "750,000.00" not in page.text
    assert "Mumbai Pharma" not in page.text  # no invitee list
    assert "NW-101" not in page.text  # no program name
    assert 'data-testid="bid-form"' in page.text
    assert page.text.count('name="bid.1.lines.') == 5 * 5  # five empty rows, five inputs each
    assert 'action="/rfps/' + str(rfp_id) + '/publish"' not in page.text


def test_save_submit_revise_and_withdraw_a_bid_through_the_form(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id, market.conditional_id), publish=True)
    provider = as_user("bids@shanghai.example")
    token = csrf(provider, f"/rfps/{rfp_id}")
    data = {
        "csrf_token": token,
        "notes": "Valid 90 days.",
        "bid.1.start_date": "2027-01-04",
        "bid.1.duration_days": "150",
        "bid.1.assumptions": "Starting material from the sponsor",
        "bid.1.lines.1.description": "Process transfer",
        "bid.1.lines.1.deliverable": "Tech transfer report",
        "bid.1.lines.1.amount": "120000.00",
        "bid.1.lines.1.currency": "USD",
        "bid.1.lines.1.due_offset_days": "30",
        "bid.1.lines.2.description": "",
        "bid.1.lines.2.amount": "",
        "bid.1.lines.2.currency": "USD",
        "bid.1.lines.3.description": "Delivery of 40 kg",
        "bid.1.lines.3.amount": "123456.78",
        "bid.1.lines.3.currency": "EUR",
        "bid.1.lines.3.due_offset_days": "150",
        "bid.2.start_date": "",
        "bid.2.lines.1.currency": "USD",
        "action": "save",
    }
    saved = provider.post(f"/rfps/{rfp_id}/bid", data=data, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    session.expire_all()
    bid = session.scalars(select(Bid)).one()
    assert (bid.status, bid.notes, bid.provider_id) == (
        "draft",
        "Valid 90 days.",
        market.approved_id,
    )
    lines = session.scalars(select(BidLine).order_by(BidLine.position)).all()
    assert [(ln.position, ln.description, ln.deliverable, ln.amount, ln.currency, ln.due_offset_days) for ln in lines] == [
        (1, "Process transfer", "Tech transfer report", Decimal("120000.00"), "USD", 30),
        (2, "Delivery of 40 kg", "", Decimal("123456.78"), "EUR", 150),
    ]  # fmt: skip
    page = provider.get(f"/rfps/{rfp_id}")
    assert "Bid saved as a draft." in page.text
    assert (
        'name="bid.1.lines.2.amount" inputmode="decimal" aria-label="Lot 1 line 2 amount" value="123456.78"'
        in page.text
    )

    # The sponsor learns nothing yet: not even that a draft exists.
    sponsor = as_user("manager@acme.example")
    assert 'data-testid="bids-received">0 of 2<' in sponsor.get(f"/rfps/{rfp_id}").text

    submitted = provider.post(
        f"/rfps/{rfp_id}/bid", data={**data, "version": str(bid.version), "action": "submit"},
        follow_redirects=False,
    )  # fmt: skip
    assert submitted.status_code == 303
    session.expire_all()
    bid = session.scalars(select(Bid)).one()
    assert bid.status == "submitted" and bid.submitted_at is not None
    assert "Bid submitted." in provider.get(f"/rfps/{rfp_id}").text

    # Sealed: the sponsor's page ticks the receipt and shows no price, no line, no assumption.
    sponsor_page = sponsor.get(f"/rfps/{rfp_id}").text
    assert 'data-testid="bids-received">1 of 2<' in sponsor_page
    assert sponsor_page.count("bi-check-circle-fill") == 1
    for secret in (
        "123456.78",
        "123,456.78",
        "120,000.00",
        "120000",
        "Process transfer",
        "Starting material",
    ):
        assert secret not in sponsor_page
    assert sponsor.get(f"/rfps/{rfp_id}/comparison", follow_redirects=False).status_code == 303
    other = as_user("bids@mumbai.example").get(f"/rfps/{rfp_id}").text
    assert "123456.78" not in other and "Process transfer" not in other

    revised = provider.post(
        f"/rfps/{rfp_id}/bid",
        data={**data, "version": str(bid.version), "bid.1.lines.3.amount": "99000"},
        follow_redirects=False,
    )
    assert revised.status_code == 303
    session.expire_all()
    assert session.scalars(select(Bid.status)).one() == "submitted"
    assert Decimal("99000.00") in session.scalars(select(BidLine.amount)).all()

    bid = session.scalars(select(Bid)).one()
    withdrawn = provider.post(
        f"/rfps/{rfp_id}/bid/withdraw", data={"csrf_token": token, "version": str(bid.version)},
        follow_redirects=False,
    )  # fmt: skip
    assert withdrawn.status_code == 303
    session.expire_all()
    assert session.scalars(select(Bid.status)).one() == "withdrawn"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"bid.1.lines.1.amount": "12.345"}, "bid.1.lines.1.amount",
         "Decimal input should have no more than 2 decimal places"),
        ({"bid.1.lines.1.amount": "-5"}, "bid.1.lines.1.amount", "Input should be greater than 0"),
        ({"bid.1.lines.1.description": "x"}, "bid.1.lines.1.description",
         "String should have at least 2 characters"),
        ({"bid.1.lines.1.due_offset_days": "400"}, "bid.1", "price line(s) [1] fall due after the offer's duration"),
        ({"bid.1.duration_days": ""}, "bid.1.duration_days", "Input should be a valid integer"),
        ({"bid.1.start_date": "soon"}, "bid.1.start_date", "Input should be a valid date or datetime, input is too short"),
        ({"bid.1.lines.1.description": "", "bid.1.lines.1.amount": "", "bid.1.lines.1.due_offset_days": ""},
         "bid.1.lines", "List should have at least 1 item after validation, not 0"),
    ],
)  # fmt: skip
def test_bid_form_errors_are_shown_next_to_their_field(
    as_user: Callable[[str], TestClient],
    session: Session,
    market: Market,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id,), publish=True)
    provider = as_user("bids@shanghai.example")
    data = {
        "csrf_token": csrf(provider, f"/rfps/{rfp_id}"),
        "bid.1.start_date": "2027-01-04",
        "bid.1.duration_days": "150",
        "bid.1.lines.1.description": "All-in",
        "bid.1.lines.1.amount": "1000",
        "bid.1.lines.1.currency": "USD",
        "bid.1.lines.1.due_offset_days": "100",
        **changes,
    }
    response = provider.post(f"/rfps/{rfp_id}/bid", data=data)
    assert response.status_code == 422
    assert _field_error(response.text, field) == message
    assert 'value="2027-01-04"' in response.text or changes.get("bid.1.start_date")
    assert _count(session, Bid) == 0


def test_a_late_bid_is_refused_with_a_clear_message(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id,), publish=True)
    provider = as_user("bids@shanghai.example")
    token = csrf(provider, f"/rfps/{rfp_id}")
    _close(session, rfp_id)
    response = provider.post(
        f"/rfps/{rfp_id}/bid",
        data={"csrf_token": token, "bid.1.start_date": "2027-01-04", "bid.1.duration_days": "10",
              "bid.1.lines.1.description": "All-in", "bid.1.lines.1.amount": "1000",
              "bid.1.lines.1.currency": "USD", "bid.1.lines.1.due_offset_days": "5", "action": "submit"},
    )  # fmt: skip
    assert response.status_code == 409
    message = re.search(r'data-testid="bid-error">([^<]*)<', response.text)
    assert message and "bids are frozen and late submissions are refused" in message.group(1)
    assert "the bid deadline passed at" in message.group(1)
    assert 'data-testid="bids-frozen"' in response.text
    assert 'data-testid="bid-form"' not in response.text
    assert _count(session, Bid) == 0


def test_late_questions_and_answers_say_why_at_the_top(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id,), publish=True)
    provider = as_user("bids@shanghai.example")
    sponsor = as_user("manager@acme.example")
    provider_token = csrf(provider, f"/rfps/{rfp_id}")
    provider.post(
        f"/rfps/{rfp_id}/questions",
        data={"csrf_token": provider_token, "question": "Which polymorph do you need?"},
    )
    question = session.scalars(select(Question)).one()
    sponsor_token = csrf(sponsor, f"/rfps/{rfp_id}")
    _close(session, rfp_id)

    late_question = provider.post(
        f"/rfps/{rfp_id}/questions",
        data={"csrf_token": provider_token, "question": "And the particle size?"},
    )
    assert late_question.status_code == 409
    error = re.search(r'data-testid="page-error">([^<]*)<', late_question.text)
    assert error and error.group(1) == (
        "cannot ask about an RFP that is closed (only when published)"
    )
    late_answer = sponsor.post(
        f"/rfps/{rfp_id}/questions/{question.id}/answer",
        data={"csrf_token": sponsor_token, "version": "1", "answer": "Form II."},
    )
    assert late_answer.status_code == 409
    error = re.search(r'data-testid="page-error">([^<]*)<', late_answer.text)
    assert error and error.group(1) == (
        "cannot answer questions on an RFP that is closed (only when published)"
    )
    session.expire_all()
    assert session.scalars(select(Question.answer)).all() == [None]


# --- comparison and award ----------------------------------------------------------------------


def _closed_with_bids(session: Session, market: Market) -> uuid.UUID:
    rfp_id = _rfp(session, market, invite=(market.approved_id, market.conditional_id), publish=True)
    _bid(
        session,
        market.approved_user,
        rfp_id,
        [("Transfer", "100000", "USD", 30), ("Delivery", "500000.50", "USD", 150)],
    )
    _bid(
        session, market.conditional_user, rfp_id, [("All-in", "40000000", "INR", 120)], duration=120
    )
    _close(session, rfp_id)
    service.get_rfp(session, principal_of(session, market.manager), rfp_id)  # closes it
    session.commit()
    return rfp_id


def test_comparison_asks_for_rates_then_ranks_charts_and_exports(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _closed_with_bids(session, market)
    sponsor = as_user("manager@acme.example")
    detail = sponsor.get(f"/rfps/{rfp_id}").text
    assert 'data-testid="rfp-status"><span class="badge badge-status-closed">Closed' in detail
    assert f'href="/rfps/{rfp_id}/comparison"' in detail

    page = sponsor.get(f"/rfps/{rfp_id}/comparison")
    assert page.status_code == 200
    error = re.search(r'data-testid="compare-error">([^<]*)<', page.text)
    assert error and "INR → USD" in html.unescape(error.group(1))
    assert 'name="rates.1.currency" maxlength="3" value="INR"' in page.text
    token = csrf_of(page.text)
    version = _version(session, rfp_id)
    bad = sponsor.post(
        f"/rfps/{rfp_id}/exchange-rates",
        data={"csrf_token": token, "version": str(version), "rates.1.currency": "INR", "rates.1.rate": "-1"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert _field_error(bad.text, "rates") == "the rate for INR must be positive"
    saved = sponsor.post(
        f"/rfps/{rfp_id}/exchange-rates",
        data={"csrf_token": token, "version": str(version), "rates.1.currency": "inr",
              "rates.1.rate": "0.012", "rates.2.currency": "", "rates.2.rate": "", "next": "comparison"},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/rfps/{rfp_id}/comparison"
    session.expire_all()
    assert session.get(Rfp, rfp_id).exchange_rates == {"INR": "0.012"}  # type: ignore[union-attr]

    page = sponsor.get(f"/rfps/{rfp_id}/comparison").text
    table = page.split('data-testid="comparison-lot-1"')[1].split("</table>")[0]
    providers = re.findall(r'<a href="/providers/[^"]+">([^<]+)</a>', table)
    prices = re.findall(r'data-testid="price">([^<]+)<', table)
    scores = re.findall(r'data-testid="weighted-score">([^<]+)<', table)
    # Mumbai: 40,000,000 INR x 0.012 = 480,000.00 USD, faster (120 d) but conditionally qualified.
    assert list(zip(providers, prices, strict=True)) == [
        ("Shanghai API Works", "600,000.50"),
        ("Mumbai Pharma", "480,000.00"),
    ] or list(zip(providers, prices, strict=True)) == [
        ("Mumbai Pharma", "480,000.00"),
        ("Shanghai API Works", "600,000.50"),
    ]
    assert [float(s) for s in scores] == sorted((float(s) for s in scores), reverse=True)
    assert "single bidder" not in table
    assert 'id="score-chart"' in page and '<script src="/assets/plotly.min.js"></script>' in page
    figure = re.search(r'id="score-chart-data">(.*?)</script>', page, re.S)
    assert figure and '"barmode":"group"' in figure.group(1)
    assert "Weighted score per lot (0–100 points" in figure.group(1).encode().decode(
        "unicode_escape", "ignore"
    ) or "Weighted score per lot" in figure.group(1)
    assert 'data-testid="award-form-1"' in page
    assert "No bid offered this lot." in page  # lot 2 (monitoring) got none

    export = sponsor.get(f"/rfps/{rfp_id}/comparison.xlsx")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(export.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == ("Lot", "Lot title", "Rank", "Provider", "Country", "Price (USD)")
    assert sorted((r[3], r[5]) for r in rows[1:]) == [
        ("Mumbai Pharma", 480000.0),
        ("Shanghai API Works", 600000.5),
    ]
    assert {r[2] for r in rows[1:]} == {1, 2}


def test_award_with_e_signature_and_each_bidder_sees_only_its_outcome(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _closed_with_bids(session, market)
    sponsor_principal = principal_of(session, market.manager)
    service.set_exchange_rates(
        session,
        sponsor_principal,
        rfp_id,
        ExchangeRates(version=_version(session, rfp_id), rates={"INR": Decimal("0.012")}),
    )
    session.commit()
    lot_id = _lot_ids(session, rfp_id)[0]
    winner = session.scalars(select(Bid).where(Bid.provider_id == market.approved_id)).one()
    sponsor = as_user("manager@acme.example")
    token = csrf(sponsor, f"/rfps/{rfp_id}/comparison")
    version = str(_version(session, rfp_id))

    wrong = sponsor.post(
        f"/rfps/{rfp_id}/lots/{lot_id}/award",
        data={"csrf_token": token, "bid_id": str(winner.id), "rationale": "Approved supplier",
              "password": "not-my-password", "meaning": "awarded", "version": version},
    )  # fmt: skip
    assert wrong.status_code == 422
    assert (
        _field_error(wrong.text, "password")
        == "the password is wrong; a signature needs your own password"
    )
    assert 'value="Approved supplier"' in wrong.text
    assert "not-my-password" not in wrong.text
    assert _count(session, Award) == 0 and _count(session, Signature) == 0

    viewer = as_user("viewer@acme.example")
    assert 'data-testid="award-form-1"' not in viewer.get(f"/rfps/{rfp_id}/comparison").text
    denied = viewer.post(
        f"/rfps/{rfp_id}/lots/{lot_id}/award",
        data={
            "csrf_token": csrf(viewer, "/"),
            "bid_id": str(winner.id),
            "version": version,
            "password": "correct-horse-battery",
        },
    )
    assert denied.status_code == 403
    assert _count(session, Award) == 0

    done = sponsor.post(
        f"/rfps/{rfp_id}/lots/{lot_id}/award",
        data={"csrf_token": token, "bid_id": str(winner.id), "rationale": "Approved supplier",
              "password": "correct-horse-battery", "meaning": "awarded", "version": version},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    session.expire_all()
    award = session.scalars(select(Award)).one()
    assert (award.bid_id, award.amount, award.currency) == (winner.id, Decimal("600000.50"), "USD")
    signature = session.scalars(select(Signature)).one()
    assert (signature.meaning, signature.signer_email) == ("awarded", "manager@acme.example")

    page = sponsor.get(f"/rfps/{rfp_id}/comparison").text
    assert (
        "Lot 1 awarded to Shanghai API Works for 600,000.50 USD — signed by Test User (awarded)"
        in page
    )
    assert re.search(
        r'data-testid="signature">E-signed by <strong>Test User</strong> at \d{4}-\d\d-\d\d \d\d:\d\d UTC · meaning <em>awarded</em>',
        page,
    )
    assert 'data-testid="award-form-1"' not in page
    detail = sponsor.get(f"/rfps/{rfp_id}").text
    assert re.search(
        r'data-testid="signature"><i class="bi bi-pen"></i> Test User · \d{4}-\d\d-\d\d \d\d:\d\d UTC · <em>awarded</em>',
        detail,
    )

    won = as_user("bids@shanghai.example").get(f"/rfps/{rfp_id}").text
    assert re.search(r'data-testid="outcome-lot-1">.*?data-testid="outcome">Awarded<', won, re.S)
    lost = as_user("bids@mumbai.example").get(f"/rfps/{rfp_id}").text
    assert re.search(
        r'data-testid="outcome-lot-1">.*?data-testid="outcome">Not awarded<', lost, re.S
    )
    for leak in ("Shanghai", "600,000.50", "100,000.00"):
        assert leak not in lost
    assert "Lot 1 of “Phase II API and monitoring” went to another bidder." in (
        as_user("bids@mumbai.example").get("/notifications").text
    )


def test_comparison_is_for_the_sponsor_only(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id,), publish=True)
    sponsor = as_user("manager@acme.example")
    early = sponsor.get(f"/rfps/{rfp_id}/comparison")
    assert "bids are sealed until the deadline" in early.text
    assert sponsor.get(f"/rfps/{rfp_id}/comparison.xlsx").status_code == 409
    _close(session, rfp_id)
    provider = as_user("bids@shanghai.example")
    assert provider.get(f"/rfps/{rfp_id}/comparison").status_code == 404
    assert provider.get(f"/rfps/{rfp_id}/comparison.xlsx").status_code == 404


# --- other organisations, anonymous, roles -----------------------------------------------------


def test_other_organisations_get_404_everywhere(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id,), publish=True)
    rival = as_user("manager@rival.example")
    for path in (f"/rfps/{rfp_id}", f"/rfps/{rfp_id}/edit", f"/rfps/{rfp_id}/comparison"):
        assert rival.get(path).status_code == 404, path
    assert "Phase II API and monitoring" not in rival.get("/rfps").text
    token = csrf(rival, "/")
    for path, data in (
        (f"/rfps/{rfp_id}/publish", {"version": "3"}),
        (f"/rfps/{rfp_id}/cancel", {"version": "3", "reason": "mine now"}),
        (f"/rfps/{rfp_id}/invitations", {"provider_id": str(market.conditional_id)}),
        (f"/rfps/{rfp_id}/bid", {"bid.1.start_date": "2027-01-01"}),
    ):
        assert rival.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    # A provider that was not invited sees nothing either.
    uninvited = as_user("bids@mumbai.example")
    assert uninvited.get(f"/rfps/{rfp_id}").status_code == 404
    session.expire_all()
    assert session.get(Rfp, rfp_id).status == "published"  # type: ignore[union-attr]
    assert _count(session, Invitation) == 1


def test_anonymous_users_are_sent_to_log_in(
    client: TestClient, session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market)
    for path in (
        "/programs",
        "/rfps",
        f"/rfps/{rfp_id}",
        f"/rfps/{rfp_id}/comparison",
        "/notifications",
    ):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith(
            "/login?next="
        ), path


def test_a_viewer_reads_but_cannot_change(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    rfp_id = _rfp(session, market, invite=(market.approved_id,))
    viewer = as_user("viewer@acme.example")
    page = viewer.get(f"/rfps/{rfp_id}")
    assert page.status_code == 200
    assert 'data-testid="publish"' not in page.text and "/edit" not in page.text
    assert viewer.get(f"/rfps/{rfp_id}/edit").status_code == 403
    response = viewer.post(
        f"/rfps/{rfp_id}/publish", data={"csrf_token": csrf_of(page.text), "version": "2"}
    )
    assert response.status_code == 403
    session.expire_all()
    assert session.get(Rfp, rfp_id).status == "draft"  # type: ignore[union-attr]


# --- QA fixes (2026-12-05) ----------------------------------------------------------------------


@pytest.mark.parametrize("weight", ["²", "9" * 5000])
def test_a_weight_int_cannot_read_is_a_field_error(
    as_user: Callable[[str], TestClient], session: Session, market: Market, weight: str
) -> None:
    """ "²" passes ``str.isdigit`` and 5,000 digits pass it too; ``int()`` refuses both (a 500)."""
    program = _program(session, market)
    sponsor = as_user("manager@acme.example")
    data = {**_rfp_form(program.id, weight_price=weight), "csrf_token": csrf(sponsor, "/rfps/new")}
    response = sponsor.post("/rfps", data=data)
    assert response.status_code == 422
    assert (
        _field_error(response.text, "weights") == "Price weight: give a whole number from 0 to 100"
    )
    assert _count(session, Rfp) == 0


def test_a_form_sent_back_with_a_made_up_row_number_shows_only_the_rows_sent(
    as_user: Callable[[str], TestClient], session: Session, market: Market
) -> None:
    """The rate and price-line rows re-rendered after an error were every number up to the
    highest one sent: row 9999 made 10,002 rows (row 10⁹ would have held the server for good).
    A number of five digits or more is no row the page offers (one of 5,000 digits was a 500)."""
    rfp_id = _rfp(session, market, invite=(market.approved_id,), publish=True)
    sponsor = as_user("manager@acme.example")
    token = csrf(sponsor, f"/rfps/{rfp_id}")
    version = str(_version(session, rfp_id))
    rates = sponsor.post(
        f"/rfps/{rfp_id}/exchange-rates",
        data={"csrf_token": token, "version": version, "rates.9999.currency": "GBP"},
    )
    assert rates.status_code == 422
    assert _field_error(rates.text, "rates.9999") == "give both the currency and its rate"
    assert re.findall(r'name="rates\.(\d+)\.currency"', rates.text) == [
        "9999", "10000", "10001", "10002"
    ]  # fmt: skip
    huge = sponsor.post(
        f"/rfps/{rfp_id}/exchange-rates",
        data={"csrf_token": token, "version": version, f"rates.{'9' * 5000}.currency": "GBP"},
        follow_redirects=False,
    )
    assert huge.status_code == 303  # no row the page offers: nothing to save, nothing refused
    assert (
        service.get_rfp(session, principal_of(session, market.manager), rfp_id).exchange_rates == {}
    )

    provider = as_user("bids@shanghai.example")
    bid = provider.post(
        f"/rfps/{rfp_id}/bid",
        data={
            "csrf_token": csrf(provider, f"/rfps/{rfp_id}"),
            "bid.1.start_date": "2027-01-04",
            "bid.1.duration_days": "150",
            "bid.1.lines.9999.description": "All-in",  # no amount: the form comes back
            "bid.1.lines.9999.currency": "USD",
            "bid.1.lines.9999.due_offset_days": "100",
        },
    )
    assert bid.status_code == 422
    assert re.findall(r'name="bid\.1\.lines\.(\d+)\.description"', bid.text) == [
        "1", "2", "3", "4", "5", "9999", "10000", "10001"
    ]  # fmt: skip
    assert _count(session, Bid) == 0
