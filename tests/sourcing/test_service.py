"""Sourcing below the HTTP layer: the scope fields of each service, the request schemas, and the
deadline that closes RFPs on the clock (lazily on reading, or by the scheduler's sweep)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from opencxo.core.auth import repository as auth_repository
from opencxo.core.auth.models import User
from opencxo.core.errors import Invalid
from opencxo.core.pagination import PageParams
from opencxo.sourcing import service
from opencxo.sourcing.models import Rfp
from opencxo.sourcing.schemas import BidLotInput, ExchangeRates, RfpCreate, Weights
from opencxo.sourcing.scope import scope_fields, validate_scope
from tests.factories import principal_of
from tests.sourcing.conftest import API_LOT, Market, offer

# --- scope fields per service -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_code", "names"),
    [
        ("CMC-GMPAPI", ["quantity_kg", "grade", "target_delivery_date"]),
        ("CMC-GMPINT", ["quantity_kg", "grade", "target_delivery_date"]),
        ("CMC-DPFORM", ["dosage_form", "units", "target_delivery_date"]),
        ("PRE-GLPTOX", ["species", "duration_weeks"]),
        ("CLIN-PH1", ["phase", "patients", "countries"]),
        ("CLIN-MONITOR", ["phase", "patients", "countries"]),
        ("DEV-TEST", ["device_class"]),
        ("REG-CSR", ["description"]),
        ("DISC-MEDCHEM", ["description"]),
    ],
)
def test_each_service_asks_for_its_own_scope_fields(service_code: str, names: list[str]) -> None:
    assert [f.name for f in scope_fields(service_code)] == names


@pytest.mark.parametrize(
    ("service_code", "raw", "clean"),
    [
        ("CMC-GMPAPI", {"quantity_kg": "12.5", "grade": "non-GMP",
                        "target_delivery_date": "2027-06-01"},
         {"quantity_kg": 12.5, "grade": "non-GMP", "target_delivery_date": "2027-06-01"}),
        ("CMC-GMPAPI", {"quantity_kg": 40, "grade": "GMP", "target_delivery_date": "2027-06-01"},
         {"quantity_kg": 40.0, "grade": "GMP", "target_delivery_date": "2027-06-01"}),
        ("CLIN-MONITOR", {"phase": "III", "patients": "1200", "countries": "us, de ,pl"},
         {"phase": "III", "patients": 1200, "countries": ["US", "DE", "PL"]}),
        ("CLIN-MONITOR", {"phase": "I", "patients": 24.0, "countries": ["gb"]},
         {"phase": "I", "patients": 24, "countries": ["GB"]}),
        ("PRE-GLPTOX", {"species": "  rat  ", "duration_weeks": 13},
         {"species": "rat", "duration_weeks": 13}),
        ("REG-CSR", {"description": "One CSR for study NW-101-02"},
         {"description": "One CSR for study NW-101-02"}),
    ],
)  # fmt: skip
def test_scope_values_are_normalised(
    service_code: str, raw: dict[str, Any], clean: dict[str, Any]
) -> None:
    assert validate_scope(service_code, raw, lot=1) == clean


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        ({}, {"lots.3.scope.quantity_kg": "Quantity (kg) is required for this service",
              "lots.3.scope.grade": "Grade is required for this service",
              "lots.3.scope.target_delivery_date": "Target delivery is required for this service"}),
        ({"quantity_kg": "nan", "grade": "GMP", "target_delivery_date": "2027-06-01"},
         {"lots.3.scope.quantity_kg": "Quantity (kg): enter a finite number"}),
        ({"quantity_kg": True, "grade": "GMP", "target_delivery_date": "2027-06-01"},
         {"lots.3.scope.quantity_kg": "Quantity (kg): enter a number"}),
        ({"quantity_kg": "forty", "grade": "GMP", "target_delivery_date": "2027-06-01"},
         {"lots.3.scope.quantity_kg": "Quantity (kg): enter a number"}),
        ({"quantity_kg": 0, "grade": "GMP", "target_delivery_date": "2027-06-01"},
         {"lots.3.scope.quantity_kg": "Quantity (kg): must be at least 0.001"}),
        ({"quantity_kg": 1, "grade": "gmp", "target_delivery_date": "2027-06-01", "ph": 7},
         {"lots.3.scope.grade": "Grade: choose one of GMP, non-GMP",
          "lots.3.scope.ph": "not a scope field of this service"}),
    ],
)  # fmt: skip
def test_scope_errors_name_the_lot_and_the_field(
    raw: dict[str, Any], errors: dict[str, str]
) -> None:
    with pytest.raises(Invalid) as caught:
        validate_scope("CMC-GMPAPI", raw, lot=3)
    assert caught.value.field_errors == errors
    assert caught.value.message == "the lot scope is incomplete or wrong: " + "; ".join(
        errors.values()
    )


def test_a_whole_number_field_refuses_fractions() -> None:
    with pytest.raises(Invalid) as caught:
        validate_scope("PRE-GLPTOX", {"species": "dog", "duration_weeks": "4.5"}, lot=1)
    assert caught.value.field_errors == {
        "lots.1.scope.duration_weeks": "Duration (weeks): enter a whole number"
    }


# --- request schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "valid"),
    [
        ({}, True),  # 40 / 20 / 25 / 15
        ({"price": 100, "time": 0, "quality": 0, "risk": 0}, True),
        ({"price": 25, "time": 25, "quality": 25, "risk": 25}, True),
        ({"price": 25, "time": 25, "quality": 25, "risk": 26}, False),
        ({"price": 101, "time": 0, "quality": 0, "risk": -1}, False),
    ],
)
def test_weights_sum_to_100(weights: dict[str, int], valid: bool) -> None:
    if valid:
        parsed = Weights(**weights)
        assert parsed.price + parsed.time + parsed.quality + parsed.risk == 100
    else:
        with pytest.raises(ValidationError):
            Weights(**weights)


def test_the_deadline_is_kept_as_the_same_instant_in_utc() -> None:
    body = RfpCreate(
        program_id=uuid.uuid4(),
        title="An RFP",
        bid_deadline="2030-01-15T17:00:00+05:30",
        lots=[API_LOT],
    )
    assert body.bid_deadline == datetime(2030, 1, 15, 11, 30, tzinfo=UTC)
    assert body.bid_deadline.utcoffset() == timedelta(0)


def test_exchange_rates_are_normalised_to_upper_case_decimals() -> None:
    rates = ExchangeRates(version=1, rates={"eur": "1.0805", " inr ": "0.012"})
    assert rates.rates == {"EUR": Decimal("1.0805"), "INR": Decimal("0.012")}


def test_price_lines_fall_due_within_the_offer() -> None:
    base = {"lot_id": uuid.uuid4(), "start_date": "2027-01-04", "duration_days": 30}
    line = {"description": "Delivery", "amount": "10.00", "currency": "usd"}
    ok = BidLotInput(**base, lines=[{**line, "due_offset_days": 30}])
    assert (ok.lines[0].currency, ok.lines[0].amount) == ("USD", Decimal("10.00"))
    with pytest.raises(ValidationError, match=r"price line\(s\) \[1\] fall due after"):
        BidLotInput(**base, lines=[{**line, "due_offset_days": 31}])


# --- the deadline closes RFPs -------------------------------------------------------------------


def _user(session: Session, email: str) -> User:
    user = auth_repository.user_by_email(session, email)
    assert user is not None
    return user


def _statuses(session: Session) -> dict[str, str]:
    return {r.title: r.status for r in session.execute(select(Rfp)).scalars()}


def test_the_sweep_closes_only_published_rfps_past_their_deadline(market: Market) -> None:
    due = market.open_rfp(title="Due RFP")
    [lot] = [lot["id"] for lot in due["lots"]]
    market.bid(due, "apex", offer(lot, ("1000.00", "USD", 10)))
    market.open_rfp(title="Open RFP")
    draft = market.draft(title="Draft RFP")
    deadline = market.pass_deadline(due)
    market.pass_deadline(draft)  # never published: a draft is not closed by its deadline

    with Session(market.engine) as session:
        assert service.close_due_rfps(session) == 1
        session.commit()
    with Session(market.engine) as session:
        assert service.close_due_rfps(session) == 0
        assert _statuses(session) == {
            "Due RFP": "closed",
            "Open RFP": "published",
            "Draft RFP": "draft",
        }
        closed = session.execute(select(Rfp).where(Rfp.title == "Due RFP")).scalar_one()
        assert closed.closed_at == deadline
    [event] = market.audit_events("close")
    assert (event.entity_id, event.actor_label) == (due["id"], "system (bid deadline)")
    assert market.notifications("northwind", "rfp_closed") == [
        "“Due RFP” closed with 1 bid(s); compare them now."
    ]


def test_listing_rfps_closes_the_due_ones_the_reader_may_see(market: Market) -> None:
    rfp = market.open_rfp(invite=("apex",))
    [lot] = [lot["id"] for lot in rfp["lots"]]
    market.bid(rfp, "apex", offer(lot, ("1000.00", "USD", 10)))
    market.pass_deadline(rfp)
    with Session(market.engine) as session:
        # another sponsor's listing does not touch Northwind's RFP
        outsider = principal_of(session, _user(session, market.emails["other_sponsor"]))
        assert service.list_rfps(session, outsider, status=None, params=PageParams()).total == 0
        assert _statuses(session) == {"Phase II API supply": "published"}

        bidder = principal_of(session, _user(session, market.emails["apex"]))
        page = service.list_rfps(session, bidder, status=None, params=PageParams())
        session.commit()
    assert [(r.status.value, r.my_bid_status) for r in page.items] == [("closed", "submitted")]
    assert len(market.audit_events("close")) == 1


def test_received_bids_are_receipts_until_the_deadline(market: Market) -> None:
    rfp = market.open_rfp(invite=("apex",))
    [lot] = [lot["id"] for lot in rfp["lots"]]
    market.bid(rfp, "apex", offer(lot, ("1234.56", "USD", 10)))
    rfp_id = uuid.UUID(rfp["id"])
    with Session(market.engine) as session:
        sponsor = principal_of(session, _user(session, market.emails["sponsor"]))
        [receipt] = service.received_bids(session, sponsor, rfp_id)
        assert receipt.model_dump().keys() == {"provider_id", "provider_name", "submitted_at"}
    market.pass_deadline(rfp)
    with Session(market.engine) as session:
        sponsor = principal_of(session, _user(session, market.emails["sponsor"]))
        [bid] = service.received_bids(session, sponsor, rfp_id)
        assert bid.lots[0].totals == {"USD": Decimal("1234.56")}  # type: ignore[union-attr]
        session.rollback()
