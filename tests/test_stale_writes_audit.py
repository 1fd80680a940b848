"""Stale writes answer 409 and change nothing — the defects the audit of "no data is lost" found.

A release specification had no version: two QA users editing its limits, the second silently
undid the first (API and web form). An award did not change its RFP: a form read before the
award (exchange rates, a cancellation) still went through against the RFP as it was.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from opencxo.core.audit import AuditEvent
from opencxo.core.auth.models import User
from opencxo.manufacturing.models import Specification
from tests.contracts.conftest import Deal, deal
from tests.factories import PASSWORD, make_token
from tests.manufacturing.conftest import PlantWorld, plant
from tests.test_races import closed_rfp
from tests.web.conftest import csrf_of, login

__all__ = ["deal", "plant"]  # fixtures of the contracts and manufacturing tests, reused here

API = "/api/v1"


def _limits(plant: PlantWorld, spec_id: uuid.UUID) -> tuple[Decimal | None, Decimal | None, int]:
    plant.session.expire_all()
    row = plant.session.get(Specification, spec_id)
    assert row is not None
    return row.lower_limit, row.upper_limit, row.version


def _spec_updates(plant: PlantWorld, spec_id: uuid.UUID) -> int:
    return len(
        plant.session.execute(
            select(AuditEvent).where(
                AuditEvent.entity_id == str(spec_id), AuditEvent.action == "update"
            )
        )
        .scalars()
        .all()
    )


# --- release specifications ---------------------------------------------------------------------


def test_a_specification_edit_from_a_stale_read_answers_409(
    client: TestClient, plant: PlantWorld
) -> None:
    user = plant.session.get(User, plant["cdmo"].user_id)
    assert user is not None
    headers = {"Authorization": f"Bearer {make_token(plant.session, user=user)}"}
    plant.session.commit()
    spec_id = plant.specifications["API-1/Assay"]
    path = f"{API}/mfg/specifications/{spec_id}"

    read = client.get(f"{API}/mfg/products/{plant.products['API-1']}", headers=headers).json()
    assay = next(s for s in read["specifications"] if s["id"] == str(spec_id))
    assert assay["version"] == 1

    first = client.patch(path, json={"version": 1, "lower_limit": "98.5"}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2

    # A second QA user, still looking at version 1, widens the lower limit: refused.
    stale = client.patch(path, json={"version": 1, "lower_limit": "95.0"}, headers=headers)
    assert stale.status_code == 409, stale.text
    assert stale.headers["content-type"] == "application/problem+json"
    assert "changed by someone else" in stale.json()["detail"]
    assert _limits(plant, spec_id) == (Decimal("98.5"), Decimal("102.0"), 2)

    # Without a version nothing can tell a stale edit from a fresh one: refused as incomplete.
    blind = client.patch(path, json={"lower_limit": "95.0"}, headers=headers)
    assert blind.status_code == 422, blind.text
    assert _limits(plant, spec_id) == (Decimal("98.5"), Decimal("102.0"), 2)
    assert _spec_updates(plant, spec_id) == 1


def test_the_specification_form_carries_its_version_and_a_stale_one_is_refused(
    client: TestClient, plant: PlantWorld
) -> None:
    spec_id = plant.specifications["API-1/Water"]
    product_id = plant.products["API-1"]
    plant.session.commit()
    login(client, plant.emails["cdmo"])
    page = client.get(f"/mfg/products/{product_id}")
    assert page.status_code == 200
    form = page.text.split(f'action="/mfg/specifications/{spec_id}"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="version" value="1">' in form
    fields: dict[str, Any] = {
        "csrf_token": csrf_of(page.text),
        "product_id": str(product_id),
        "test": "Water",
        "method": "Karl Fischer",
        "lower_limit": "",
        "result_unit": "%",
        "acceptance_text": "",
    }

    saved = client.post(
        f"/mfg/specifications/{spec_id}", data={**fields, "version": "1", "upper_limit": "0.3"}
    )
    assert saved.status_code == 200 and "Specification Water saved." in saved.text
    assert _limits(plant, spec_id) == (None, Decimal("0.3"), 2)

    # The same page, submitted again by a colleague who loaded it before the save.
    stale = client.post(
        f"/mfg/specifications/{spec_id}", data={**fields, "version": "1", "upper_limit": "1.0"}
    )
    assert stale.status_code == 409
    assert "changed by someone else" in stale.text
    assert 'value="1.0"' in stale.text  # the input is kept next to the message
    assert _limits(plant, spec_id) == (None, Decimal("0.3"), 2)

    missing = client.post(f"/mfg/specifications/{spec_id}", data={**fields, "upper_limit": "1.0"})
    assert missing.status_code == 422
    assert _limits(plant, spec_id) == (None, Decimal("0.3"), 2)


# --- awards -------------------------------------------------------------------------------------


def test_an_award_changes_the_rfp_so_a_form_read_before_it_is_stale(deal: Deal) -> None:
    path, lot_ids, bid_id = closed_rfp(deal, ("CMC-GMPAPI", "CLIN-MONITOR"))
    before = deal.ok(deal.get(path, "sponsor"))["version"]
    deal.ok(
        deal.post(
            f"{path}/lots/{lot_ids[0]}/award",
            "sponsor2",
            {"bid_id": bid_id, "version": before, "password": PASSWORD},
        ),
        201,
    )
    after = deal.ok(deal.get(path, "sponsor"))
    assert after["version"] > before

    # Rates entered on a page read before the award: the award was priced with the old ones.
    rates = deal.call(
        "PUT", f"{path}/exchange-rates", "sponsor", {"version": before, "rates": {"EUR": "1.10"}}
    )
    deal.problem(rates, 409)
    finish = deal.post(f"{path}/finish-award", "sponsor", {"version": before, "reason": "none"})
    deal.problem(finish, 409)
    assert deal.ok(deal.get(path, "sponsor")) == after

    # At the version read after the award, the same changes go through.
    rates = deal.call(
        "PUT",
        f"{path}/exchange-rates",
        "sponsor",
        {"version": after["version"], "rates": {"EUR": "1.10"}},
    )
    assert deal.ok(rates)["exchange_rates"] == {"EUR": "1.10"}


# --- planning an order --------------------------------------------------------------------------


def test_the_plan_button_of_a_stale_order_page_plans_nothing(
    client: TestClient, plant: PlantWorld
) -> None:
    """The order page's "Plan batches" form carries the order's version; the quantity changed
    since the page was loaded: nothing is planned and the page says why."""
    order_id = plant.orders["PO-A-1"]
    plant.session.commit()
    login(client, plant.emails["cdmo"])
    page = client.get(f"/mfg/orders/{order_id}")
    form = page.text.split(f'action="/mfg/orders/{order_id}/plan"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="version" value="1">' in form
    token = csrf_of(page.text)

    user = plant.session.get(User, plant["cdmo"].user_id)
    assert user is not None
    headers = {"Authorization": f"Bearer {make_token(plant.session, user=user)}"}
    plant.session.commit()
    edited = client.patch(
        f"{API}/mfg/orders/{order_id}", json={"version": 1, "quantity": "400"}, headers=headers
    )
    assert edited.status_code == 200, edited.text

    stale = client.post(f"/mfg/orders/{order_id}/plan", data={"csrf_token": token, "version": "1"})
    assert stale.status_code == 200  # back on the order page, with the message
    assert "changed by someone else" in stale.text
    assert 'data-testid="batch-row"' not in stale.text

    # The API takes the version too; planning changes it.
    refused = client.post(f"{API}/mfg/orders/{order_id}/plan?version=1", headers=headers)
    assert refused.status_code == 409, refused.text
    planned = client.post(f"{API}/mfg/orders/{order_id}/plan?version=2", headers=headers)
    assert planned.status_code == 200, planned.text
    order = client.get(f"{API}/mfg/orders/{order_id}", headers=headers).json()
    assert order["version"] == 3


def test_an_award_signed_from_a_stale_comparison_is_refused(deal: Deal) -> None:
    """The sponsor compares the bids; a colleague enters new exchange rates (new amounts); the
    award signed from the page read before is refused, on the page and through the API."""
    path, (lot_id,), bid_id = closed_rfp(deal)
    rfp_id = path.rsplit("/", 1)[-1]
    login(deal.client, deal.emails["sponsor"])
    page = deal.client.get(f"/rfps/{rfp_id}/comparison")
    assert page.status_code == 200, page.text
    version = deal.ok(deal.get(path, "sponsor"))["version"]
    form = page.text.split(f'action="/rfps/{rfp_id}/lots/{lot_id}/award"', 1)[1]
    assert f'<input type="hidden" name="version" value="{version}">' in form.split("</form>")[0]

    rates = {"version": version, "rates": {"EUR": "1.10"}}
    deal.ok(deal.call("PUT", f"{path}/exchange-rates", "sponsor2", rates))

    stale = deal.client.post(
        f"/rfps/{rfp_id}/lots/{lot_id}/award",
        data={
            "csrf_token": csrf_of(page.text),
            "version": str(version),
            "bid_id": bid_id,
            "password": PASSWORD,
        },
    )
    assert stale.status_code == 409
    assert "changed by someone else" in stale.text
    api = deal.post(
        f"{path}/lots/{lot_id}/award",
        "sponsor",
        {"bid_id": bid_id, "password": PASSWORD, "version": version},
    )
    deal.problem(api, 409)
    assert deal.ok(deal.get(path, "sponsor"))["status"] == "closed"
    fresh = deal.post(
        f"{path}/lots/{lot_id}/award",
        "sponsor",
        {"bid_id": bid_id, "password": PASSWORD, "version": version + 1},
    )
    assert deal.ok(fresh, 201)["lot_id"] == lot_id
