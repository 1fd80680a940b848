"""The planning and scheduling API: plan, solve in the background (immediate mode: the job runs
right after the request's commit), progress, stop, operations, breakdown, the sponsor's view,
and one solve by a real ``opencxo worker`` subprocess."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from opencxo.core import jobs
from opencxo.core.auth import repository as users
from opencxo.core.settings import Settings
from opencxo.manufacturing.models import Batch
from tests.conftest import TEST_SECRET
from tests.factories import make_token
from tests.manufacturing.conftest import PlantWorld

API = "/api/v1/mfg"
YY = date.today().strftime("%y")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def immediate(database_url: str) -> Iterator[None]:
    jobs.configure(
        Settings(
            database_url=database_url,
            environment="test",
            secret_key=TEST_SECRET,
            jobs_immediate=True,
        )
    )
    yield
    jobs.reset()


@pytest.fixture
def auth(plant: PlantWorld) -> dict[str, dict[str, str]]:
    out = {}
    for name, email in plant.emails.items():
        user = users.user_by_email(plant.session, email)
        assert user is not None
        out[name] = {"Authorization": f"Bearer {make_token(plant.session, user=user)}"}
    plant.session.commit()
    return out


def _plan(client: TestClient, plant: PlantWorld, auth: dict[str, dict[str, str]]) -> None:
    for number in ("PO-A-1", "PO-B-1"):
        r = client.post(f"{API}/orders/{plant.orders[number]}/plan?version=1", headers=auth["cdmo"])
        assert r.status_code == 200, r.text


def _solve(
    client: TestClient, plant: PlantWorld, auth: dict[str, dict[str, str]], **body: Any
) -> dict[str, Any]:
    r = client.post(
        f"{API}/plants/{plant.plant_id}/schedules",
        json={"time_limit_s": 2, "workers": 1, **body},
        headers=auth["cdmo"],
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    got = client.get(f"{API}/schedules/{r.json()['id']}", headers=auth["cdmo"])
    assert got.status_code == 200
    return dict(got.json())


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_plan_answers_the_orders_batches(
    client: TestClient, plant: PlantWorld, auth: dict[str, dict[str, str]]
) -> None:
    missing = client.post(f"{API}/orders/{plant.orders['PO-A-1']}/plan", headers=auth["cdmo"])
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "query.version", "message": "Field required"}]
    r = client.post(f"{API}/orders/{plant.orders['PO-A-1']}/plan?version=1", headers=auth["cdmo"])
    assert r.status_code == 200, r.text
    assert [(b["batch_number"], b["planned_quantity"]) for b in r.json()] == [
        (f"API-1-{YY}-0001", "39.567500"), (f"API-1-{YY}-0002", "39.567500"),
        (f"API-1-{YY}-0003", "39.567500"), (f"INT-1-{YY}-0001", "85.500000"),
        (f"INT-1-{YY}-0002", "85.500000"), (f"INT-1-{YY}-0003", "85.500000"),
    ]  # fmt: skip
    assert (
        client.post(
            f"{API}/orders/{plant.orders['PO-A-1']}/plan?version=2", headers=auth["viewer"]
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"{API}/orders/{plant.orders['PO-A-1']}/plan?version=2", headers=auth["other_sponsor"]
        ).status_code
        == 404
    )


def test_a_solve_via_the_api_is_checked_and_keeps_every_rule_in_stored_times(
    client: TestClient, plant: PlantWorld, auth: dict[str, dict[str, str]], immediate: None
) -> None:
    _plan(client, plant, auth)
    schedule = _solve(client, plant, auth)

    assert schedule["status"] == "done", schedule
    assert schedule["solver_status"] in ("OPTIMAL", "FEASIBLE")
    assert schedule["is_current"] is True
    assert schedule["operation_count"] == 19
    assert schedule["improvements"], "progress was recorded"
    assert schedule["elapsed_s"] >= 0 and schedule["wall_time_s"] <= 5
    ops = client.get(f"{API}/schedules/{schedule['id']}/operations", headers=auth["cdmo"]).json()
    assert len(ops) == 19
    # no overlap (and the changeover gap) on any unit
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for o in ops:
        by_unit.setdefault(o["unit_code"], []).append(o)
    for unit_ops in by_unit.values():
        unit_ops.sort(key=lambda o: o["starts_at"])
        for a, b in itertools.pairwise(unit_ops):
            gap = _at(b["starts_at"]) - _at(a["ends_at"])
            assert gap >= timedelta(hours=float(b["changeover_hours"])), (a, b)
    # steps in order inside a batch; INT-1 batches finish before the API-1 batches consuming them
    steps: dict[str, dict[int, dict[str, Any]]] = {}
    for o in ops:
        steps.setdefault(o["batch_number"], {})[o["step_sequence"]] = o
    for batch in steps.values():
        seqs = sorted(batch)
        for s1, s2 in itertools.pairwise(seqs):
            assert _at(batch[s1]["ends_at"]) <= _at(batch[s2]["starts_at"])
    for component, consumer in [
        ("0001", "0001"),
        ("0001", "0002"),
        ("0002", "0002"),
        ("0002", "0003"),
        ("0003", "0003"),
    ]:
        assert _at(steps[f"INT-1-{YY}-{component}"][2]["ends_at"]) <= _at(
            steps[f"API-1-{YY}-{consumer}"][1]["starts_at"]
        )
    # only eligible units: reactors for step 1 of API-1
    assert {steps[f"API-1-{YY}-0001"][1]["unit_code"]} <= {"R-101", "R-102"}
    assert {o["sponsor_name"] for o in ops} == {"Sponsor A Bio", "Sponsor B Pharma"}
    listed = client.get(f"{API}/plants/{plant.plant_id}/schedules", headers=auth["cdmo"]).json()
    assert [s["id"] for s in listed["items"]] == [schedule["id"]]
    stop = client.post(f"{API}/schedules/{schedule['id']}/stop", headers=auth["cdmo"])
    assert stop.status_code == 409


def test_plant_schedules_are_the_providers_and_sponsors_see_only_their_own_slots(
    client: TestClient, plant: PlantWorld, auth: dict[str, dict[str, str]], immediate: None
) -> None:
    _plan(client, plant, auth)
    schedule = _solve(client, plant, auth)
    for who in ("sponsor", "other_sponsor", "other_cdmo"):
        assert client.get(f"{API}/schedules/{schedule['id']}", headers=auth[who]).status_code == 404
        assert (
            client.get(
                f"{API}/schedules/{schedule['id']}/operations", headers=auth[who]
            ).status_code
            == 404
        )
        assert (
            client.get(f"{API}/plants/{plant.plant_id}/schedules", headers=auth[who]).status_code
            == 404
        )
    assert (
        client.post(
            f"{API}/plants/{plant.plant_id}/schedules", json={}, headers=auth["sponsor"]
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"{API}/plants/{plant.plant_id}/schedules", json={}, headers=auth["viewer"]
        ).status_code
        == 403
    )
    mine = client.get(f"{API}/orders/{plant.orders['PO-A-1']}/schedule", headers=auth["sponsor"])
    assert mine.status_code == 200
    view = mine.json()
    assert view["schedule_id"] == schedule["id"]
    assert len(view["operations"]) == 15  # 3 × 3 API-1 steps + 3 × 2 INT-1 steps
    assert {o["product_code"] for o in view["operations"]} == {"API-1", "INT-1"}
    assert {o["sponsor_name"] for o in view["operations"]} == {"Sponsor A Bio"}
    # B's order is not A's to see, nor A's order B's
    assert (
        client.get(
            f"{API}/orders/{plant.orders['PO-B-1']}/schedule", headers=auth["sponsor"]
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"{API}/orders/{plant.orders['PO-A-1']}/schedule", headers=auth["other_sponsor"]
        ).status_code
        == 404
    )


def test_a_breakdown_via_the_api_reschedules_the_plant(
    client: TestClient, plant: PlantWorld, auth: dict[str, dict[str, str]], immediate: None
) -> None:
    _plan(client, plant, auth)
    first = _solve(client, plant, auth)
    until = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    r = client.post(
        f"{API}/units/{plant.units['F-201']}/breakdown",
        json={"until": until, "reason": "vacuum pump", "time_limit_s": 2, "workers": 1},
        headers=auth["cdmo"],
    )
    assert r.status_code == 202, r.text
    second = client.get(f"{API}/schedules/{r.json()['id']}", headers=auth["cdmo"]).json()
    assert second["warm_start_from_id"] == first["id"]
    assert second["is_current"] and second["status"] == "done"
    ops = client.get(f"{API}/schedules/{second['id']}/operations", headers=auth["cdmo"]).json()
    filter_ops = [o for o in ops if o["unit_code"] == "F-201"]
    assert filter_ops and min(_at(o["starts_at"]) for o in filter_ops) >= _at(until)
    bad = client.post(
        f"{API}/units/{plant.units['F-201']}/breakdown",
        json={"until": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
        headers=auth["cdmo"],
    )
    assert bad.status_code == 422


def test_a_real_worker_process_runs_the_solve_in_the_background(
    client: TestClient,
    plant: PlantWorld,
    auth: dict[str, dict[str, str]],
    database_url: str,
    tmp_path: Path,
) -> None:
    jobs_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    jobs.configure(
        Settings(
            database_url=database_url,
            environment="test",
            secret_key=TEST_SECRET,
            jobs_immediate=False,
            jobs_url=jobs_url,
        )
    )
    try:
        _plan(client, plant, auth)
        r = client.post(
            f"{API}/plants/{plant.plant_id}/schedules",
            json={"time_limit_s": 4, "workers": 1},
            headers=auth["cdmo"],
        )
        assert r.status_code == 202
        schedule_id = r.json()["id"]
        # nobody runs it yet: it waits in the queue
        time.sleep(0.5)
        assert (
            client.get(f"{API}/schedules/{schedule_id}", headers=auth["cdmo"]).json()["status"]
            == "queued"
        )
        env = {
            **os.environ,
            "OPENCXO_DATABASE_URL": database_url,
            "OPENCXO_JOBS_URL": jobs_url,
            "OPENCXO_JOBS_IMMEDIATE": "false",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "opencxo.cli", "worker", "--workers", "1"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            progress = False
            deadline = time.monotonic() + 60
            state: dict[str, Any] = {}
            while time.monotonic() < deadline:
                state = client.get(f"{API}/schedules/{schedule_id}", headers=auth["cdmo"]).json()
                progress = progress or bool(state["improvements"])
                if state["status"] in ("done", "failed"):
                    break
                time.sleep(0.2)
            assert state["status"] == "done", state
            assert progress
            assert state["solver_status"] in ("OPTIMAL", "FEASIBLE")
            assert state["operation_count"] == 19
        finally:
            worker.terminate()
            _output, _ = worker.communicate(timeout=20)
        assert worker.returncode is not None
    finally:
        jobs.reset()
    assert plant.session.scalars(select(Batch)).all()
