"""``opencxo mfg solve-instance`` through Typer's runner (no database)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from opencxo.cli import app

DATA = Path(__file__).parent / "engine" / "data"
runner = CliRunner()


def test_solve_instance_json() -> None:
    result = runner.invoke(
        app,
        ["mfg", "solve-instance", str(DATA / "ft06"), "--format", "jssp", "--time-limit", "20",
         "--workers", "2", "--seed", "3", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"makespan", "lower_bound", "status", "wall_time_s", "gap", "jobs", "machines"} <= set(
        doc
    )
    assert (doc["status"], doc["makespan"], doc["lower_bound"]) == ("OPTIMAL", 55, 55)
    assert (doc["instance"], doc["jobs"], doc["machines"], doc["seed"]) == ("ft06", 6, 6, 3)
    assert "schedule" not in doc


def test_solve_instance_fjsp_with_schedule_and_text() -> None:
    result = runner.invoke(
        app,
        ["mfg", "solve-instance", str(DATA / "mk01.txt"), "--format", "fjsp", "--time-limit", "5",
         "--json", "--schedule"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] in ("OPTIMAL", "FEASIBLE")
    assert len(doc["schedule"]) == 55
    assert {row["machine"] for row in doc["schedule"]} <= set(range(1, 7))  # as in the file
    text = runner.invoke(
        app, ["mfg", "solve-instance", str(DATA / "ft06"), "--format", "jssp", "--time-limit", "5"]
    )
    assert text.exit_code == 0
    assert "makespan 55, lower bound 55" in text.stdout


def test_bad_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("2 2\n0 3 1 2\n")
    result = runner.invoke(app, ["mfg", "solve-instance", str(bad), "--format", "jssp", "--json"])
    assert result.exit_code == 2
    assert "line 1: the header announces 2 jobs but 1 job lines follow" in result.stderr
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["mfg", "solve-instance", str(tmp_path / "x"), "--format", "fjsp"])
    assert missing.exit_code == 2
    assert "cannot be read" in missing.stderr
    wrong = runner.invoke(app, ["mfg", "solve-instance", str(bad), "--format", "xml"])
    assert wrong.exit_code == 2


def test_work_past_the_solvers_time_range_is_said_in_words(tmp_path: Path) -> None:
    # each duration is legal, their sum is not a time the solver can represent
    big = tmp_path / "big.txt"
    big.write_text("1 1\n0 1000000000 0 1000000000\n")
    result = runner.invoke(app, ["mfg", "solve-instance", str(big), "--format", "jssp", "--json"])
    assert result.exit_code == 1, result.output  # no schedule
    doc = json.loads(result.stdout)
    assert (doc["status"], doc["makespan"]) == ("MODEL_INVALID", None)
    assert doc["reasons"] == [
        "the work to schedule (releases, durations, changeovers and lags) adds up to "
        "2000000000 time units, more than the 1000000000 the solver handles: schedule fewer "
        "batches at once or use a coarser time unit"
    ]


def test_real_process_prints_the_keys() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "mfg", "solve-instance", str(DATA / "ft06"),
         "--format", "jssp", "--time-limit", "20", "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    doc = json.loads(completed.stdout)
    assert (doc["status"], doc["makespan"], doc["lower_bound"]) == ("OPTIMAL", 55, 55)
    assert doc["wall_time_s"] >= 0
    helped = subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "mfg", "solve-instance", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert helped.returncode == 0
    assert "--time-limit" in helped.stdout
