"""The schedule pages: the plant's schedule (Gantt, KPIs, late orders, form, history), a
solve's progress panel and stop button, the plan button's POST, the sponsor's fragment."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from opencxo.core import jobs
from opencxo.core.settings import Settings
from opencxo.manufacturing import planning, scheduling
from opencxo.manufacturing.models import Batch, ProductionOrder, Schedule
from opencxo.manufacturing.schedule_schemas import ImprovementRead, ScheduleRead, ScheduleRequest
from opencxo.manufacturing.schedule_web import progress_figure
from tests.conftest import TEST_SECRET
from tests.manufacturing.conftest import PlantWorld
from tests.web.conftest import csrf_of, login

YY = date.today().strftime("%y")


@pytest.fixture(autouse=True)
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


def _plan(plant: PlantWorld) -> None:
    for number in ("PO-A-1", "PO-B-1"):
        planning.plan_order(plant.session, plant["cdmo"], plant.orders[number])
    plant.session.commit()


def test_the_plan_button_plans_and_comes_back_with_a_flash(
    client: TestClient, plant: PlantWorld
) -> None:
    login(client, plant.emails["cdmo"])
    token = csrf_of(client.get(f"/mfg/plants/{plant.plant_id}/schedule").text)
    r = client.post(
        f"/mfg/orders/{plant.orders['PO-A-1']}/plan",
        data={"csrf_token": token, "version": "1"},  # the order page's hidden version
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/mfg/orders/{plant.orders['PO-A-1']}"
    assert len(plant.session.scalars(select(Batch)).all()) == 6
    page = client.get(f"/mfg/plants/{plant.plant_id}/schedule")
    assert "Planned: the order has 6 batches" in page.text


def test_the_plant_page_solves_shows_progress_and_the_gantt(
    client: TestClient, plant: PlantWorld
) -> None:
    _plan(plant)
    login(client, plant.emails["cdmo"])
    page = client.get(f"/mfg/plants/{plant.plant_id}/schedule")
    assert page.status_code == 200
    assert 'data-testid="no-schedule"' in page.text
    assert 'data-testid="solve-form"' in page.text

    bad = client.post(
        f"/mfg/plants/{plant.plant_id}/schedules",
        data={"csrf_token": csrf_of(page.text), "time_limit_s": "9999", "workers": "2"},
    )
    assert bad.status_code == 422
    assert 'data-field-error="time_limit_s"' in bad.text
    assert 'value="9999"' in bad.text  # the input is kept

    r = client.post(
        f"/mfg/plants/{plant.plant_id}/schedules",
        data={"csrf_token": csrf_of(page.text), "time_limit_s": "2", "workers": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    schedule_id = r.headers["location"].rsplit("/", 1)[-1]
    assert r.headers["location"] == f"/mfg/schedules/{schedule_id}"
    schedule = plant.session.get(Schedule, uuid.UUID(schedule_id))
    assert schedule is not None and schedule.warm_start_from_id is None

    run = client.get(f"/mfg/schedules/{schedule_id}")
    assert run.status_code == 200
    assert 'data-status="done"' in run.text
    assert 'data-testid="gantt"' in run.text and "every 1s" not in run.text
    assert 'data-testid="stop"' not in run.text  # finished: nothing to stop
    # proved optimal well before its 2 s: done is 100 %, not the share of the limit used
    assert 'aria-valuenow="100"' in run.text

    page = client.get(f"/mfg/plants/{plant.plant_id}/schedule")
    assert 'data-testid="kpi-makespan"' in page.text
    assert "Equipment unit" in page.text and "Changeover / cleaning" in page.text
    assert f"API-1-{YY}-0001" in page.text and "Sponsor B Pharma" in page.text
    assert 'data-testid="no-late-orders"' in page.text
    assert len(re.findall(r'href="/mfg/schedules/[0-9a-f-]+">', page.text)) >= 1

    xlsx = client.get(f"/mfg/plants/{plant.plant_id}/schedule.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert client.get(f"/mfg/schedules/{schedule_id}/operations.xlsx").status_code == 200


def test_a_running_solve_polls_and_can_be_stopped(client: TestClient, plant: PlantWorld) -> None:
    _plan(plant)
    read = scheduling.request_schedule(
        plant.session, plant["cdmo"], plant.plant_id, ScheduleRequest(time_limit_s=10)
    )
    plant.session.commit()  # queued, no job sent (the service alone): as if no worker ran yet
    login(client, plant.emails["cdmo"])
    page = client.get(f"/mfg/schedules/{read.id}")
    assert 'data-status="queued"' in page.text
    assert f'hx-get="/mfg/schedules/{read.id}/progress"' in page.text
    assert 'hx-trigger="every 1s"' in page.text
    assert "waiting for a job worker" in page.text
    fragment = client.get(f"/mfg/schedules/{read.id}/progress", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "HX-Refresh" not in fragment.headers
    assert 'data-testid="stop"' in fragment.text

    stopped = client.post(
        f"/mfg/schedules/{read.id}/stop",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert stopped.status_code == 303
    after = client.get(f"/mfg/schedules/{read.id}")
    assert "Stop requested" in after.text
    assert 'data-status="done"' in after.text and "stopped before it started" in after.text
    done = client.get(f"/mfg/schedules/{read.id}/progress", headers={"HX-Request": "true"})
    assert done.headers["HX-Refresh"] == "true"
    again = client.post(f"/mfg/schedules/{read.id}/stop", data={"csrf_token": csrf_of(page.text)})
    assert "already finished" in again.text


def test_the_viewer_has_no_form_and_sponsors_get_404_but_see_their_order_fragment(
    client: TestClient, plant: PlantWorld, engine: object
) -> None:
    _plan(plant)
    read = scheduling.request_schedule(
        plant.session, plant["cdmo"], plant.plant_id, ScheduleRequest(time_limit_s=2, workers=1)
    )
    plant.session.commit()
    from sqlalchemy.orm import sessionmaker

    scheduling.run_schedule(read.id, sessionmaker(bind=engine))  # type: ignore[call-overload]
    login(client, plant.emails["viewer"])
    page = client.get(f"/mfg/plants/{plant.plant_id}/schedule")
    assert page.status_code == 200 and 'data-testid="solve-form"' not in page.text
    client.cookies.clear()

    login(client, plant.emails["sponsor"])
    assert client.get(f"/mfg/plants/{plant.plant_id}/schedule").status_code == 404
    assert client.get(f"/mfg/schedules/{read.id}").status_code == 404
    fragment = client.get(f"/mfg/orders/{plant.orders['PO-A-1']}/schedule-fragment")
    assert fragment.status_code == 200
    assert f"API-1-{YY}-0001" in fragment.text and f"INT-1-{YY}-0003" in fragment.text
    assert "API-B" not in fragment.text and "Sponsor B" not in fragment.text
    assert client.get(f"/mfg/orders/{plant.orders['PO-B-1']}/schedule-fragment").status_code == 404


def test_a_late_order_is_flagged(client: TestClient, plant: PlantWorld, engine: object) -> None:
    _plan(plant)
    order = plant.session.get(ProductionOrder, plant.orders["PO-A-1"])
    assert order is not None
    order.due_date = date.today() - timedelta(days=2)
    plant.session.commit()
    read = scheduling.request_schedule(
        plant.session, plant["cdmo"], plant.plant_id, ScheduleRequest(time_limit_s=2, workers=1)
    )
    plant.session.commit()
    from sqlalchemy.orm import sessionmaker

    scheduling.run_schedule(read.id, sessionmaker(bind=engine))  # type: ignore[call-overload]
    login(client, plant.emails["cdmo"])
    page = client.get(f"/mfg/plants/{plant.plant_id}/schedule")
    assert 'data-testid="late-orders"' in page.text
    assert re.search(
        r'<tr class="table-danger"><td><a href="/mfg/orders/[^"]+">PO-A-1</a>', page.text
    )
    assert 'data-late="1"' in page.text
    assert "PO-A-1 (LATE)" in page.text  # in the Gantt's hover data


def test_a_breakdown_reported_on_the_plant_page_reschedules_around_the_unit(
    client: TestClient, plant: PlantWorld
) -> None:
    from datetime import UTC, datetime

    from opencxo.manufacturing.models import MaintenanceWindow

    _plan(plant)
    login(client, plant.emails["cdmo"])
    page = client.get(f"/mfg/plants/{plant.plant_id}")
    assert page.text.count('data-testid="breakdown-form"') == 6  # one per unit in service
    token = csrf_of(page.text)
    unit = plant.units["R-101"]
    refused = client.post(
        f"/mfg/units/{unit}/breakdown",
        data={"csrf_token": token, "plant_id": str(plant.plant_id), "until": "2020-01-01T08:00",
              "reason": "seal", "time_limit_s": "2"},
        follow_redirects=False,
    )  # fmt: skip
    # the plant page again, the unit's breakdown form open with the input and what to fix
    assert refused.status_code == 422
    assert 'data-field-error="until">until: give a UTC instant after now<' in refused.text
    assert 'value="2020-01-01T08:00"' in refused.text and 'value="seal"' in refused.text
    assert refused.text.count('<details open><summary class="small text-danger">') == 1
    years = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M")
    too_long = client.post(
        f"/mfg/units/{unit}/breakdown",
        data={"csrf_token": token, "plant_id": str(plant.plant_id), "until": years,
              "reason": "seal", "time_limit_s": "2"},
    )  # fmt: skip
    assert too_long.status_code == 422
    assert "until: at most 366 days from now" in too_long.text
    assert plant.session.scalars(select(MaintenanceWindow)).all() == []
    back = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    done = client.post(
        f"/mfg/units/{unit}/breakdown",
        data={"csrf_token": token, "plant_id": str(plant.plant_id),
              "until": back.strftime("%Y-%m-%dT%H:%M"), "reason": "agitator seal failure",
              "time_limit_s": "2"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].startswith("/mfg/schedules/")
    plant.session.expire_all()
    (window,) = plant.session.scalars(select(MaintenanceWindow)).all()
    assert (window.unit_id, window.ends_at, window.reason) == (
        unit,
        back,
        "breakdown: agitator seal failure",
    )
    schedule = plant.session.scalars(select(Schedule)).one()
    assert schedule.status == "done" and schedule.solver_status in ("OPTIMAL", "FEASIBLE")
    on_unit = [op for op in schedule.operations if op.unit_id == unit]
    assert all(op.ends_at <= window.starts_at or op.starts_at >= back for op in on_unit)


def test_orders_the_current_schedule_finishes_late_are_flagged_in_the_lists(
    client: TestClient, plant: PlantWorld, engine: Engine
) -> None:
    from sqlalchemy import update as sql_update
    from sqlalchemy.orm import sessionmaker

    plant.session.execute(
        sql_update(ProductionOrder)
        .where(ProductionOrder.id == plant.orders["PO-B-1"])
        .values(due_date=date.today())  # API-B takes 26 h from the next full hour: late
    )
    _plan(plant)
    read = scheduling.request_schedule(
        plant.session, plant["cdmo"], plant.plant_id, ScheduleRequest(time_limit_s=2, workers=1)
    )
    plant.session.commit()
    scheduling.run_schedule(read.id, sessionmaker(bind=engine, expire_on_commit=False))
    login(client, plant.emails["cdmo"])
    rows = client.get("/mfg/orders").text.split("<tr")
    flagged = sorted(
        number
        for number in ("PO-A-1", "PO-B-1")
        for row in rows
        if f">{number}</a>" in row and 'data-testid="late"' in row
    )
    assert flagged == ["PO-B-1"]
    order_b = client.get(f"/mfg/orders/{plant.orders['PO-B-1']}").text
    assert 'data-testid="late"' in order_b and "scheduled to finish" in order_b


def _read(
    status: str, wall_time_s: float | None, *improvements: tuple[float, str, float, float]
) -> ScheduleRead:
    return ScheduleRead.model_construct(
        status=status,
        wall_time_s=wall_time_s,
        improvements=[
            ImprovementRead(wall_time_s=t, phase=p, objective=o, bound=b)
            for t, p, o, b in improvements
        ],
    )


def test_the_progress_chart_shows_each_phase_with_its_bound_to_the_end_of_the_solve() -> None:
    done = _read(
        "done", 3.0,
        (0.02, "weighted_tardiness", 158, 122), (0.03, "weighted_tardiness", 122, 122),
        (2.3, "makespan", 164, 146), (2.7, "makespan", 146, 146),
    )  # fmt: skip
    figure = progress_figure(done)
    lines = {t["name"]: (t["x"], t["y"], t["yaxis"]) for t in figure["data"]}
    assert lines == {
        # tardiness runs until the makespan phase starts, in the upper panel
        "weighted tardiness (priority × h)": ([0.02, 0.03, 2.3], [158, 122, 122], "y"),
        "weighted tardiness: proved bound": ([0.02, 0.03, 2.3], [122, 122, 122], "y"),
        # the last phase runs on to the solve's end, in the lower panel
        "makespan (h)": ([2.3, 2.7, 3.0], [164, 146, 146], "y2"),
        "makespan: proved bound": ([2.3, 2.7, 3.0], [146, 146, 146], "y2"),
    }
    layout = figure["layout"]
    assert layout["yaxis"]["title"]["text"] == "Weighted tardiness<br>(priority × hours)"
    assert layout["yaxis2"]["title"]["text"] == "Makespan<br>(hours)"
    assert (layout["yaxis"]["domain"], layout["yaxis2"]["domain"]) == ([0.58, 1.0], [0.0, 0.5])
    assert layout["xaxis"]["anchor"] == "y2"  # the time axis under the lower panel

    # while it runs, a single phase: one axis, named for it, and nothing drawn past the last point
    running = _read("running", None, (0.5, "weighted_tardiness", 40, 0))
    figure = progress_figure(running)
    assert [(t["name"], t["x"], t["yaxis"]) for t in figure["data"]] == [
        ("weighted tardiness (priority × h)", [0.5], "y"),
        ("weighted tardiness: proved bound", [0.5], "y"),
    ]
    assert "yaxis2" not in figure["layout"]
    assert figure["layout"]["yaxis"]["title"]["text"] == "Weighted tardiness<br>(priority × hours)"
    assert figure["layout"]["yaxis"]["domain"] == [0.0, 1.0]
