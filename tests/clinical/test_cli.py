"""``opencxo clinical forecast`` run as a real process (no database needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

SITES = """site_id,country,activation_date,enrolled,planned_activation_date
S1,FR,2024-09-01,12,
S2,FR,2024-10-15,7,
S3,DE,2024-11-01,3,
S4,DE,2024-08-01,15,
S5,US,2025-01-10,2,
S6,US,2024-12-01,9,
S7,US,,0,2025-04-01
"""
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "clinical", "forecast", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sites.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_forecast_json_keys_and_dates(tmp_path: Path) -> None:
    csv = write(tmp_path, SITES)
    args = (csv, "--target", "150", "--as-of", "2025-03-01", "--deadline", "2026-06-30")
    completed = run(*args, "--seed", "5", "--paths", "4000", "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    for key in ("alpha", "beta", "enrolled_to_date", "probability_by_deadline"):
        assert key in report
    assert report["enrolled_to_date"] == 48
    assert report["sites_open"] == 6 and report["sites_planned"] == 1
    dates = [report[f"completion_date_p{p}"] for p in (10, 50, 90)]
    assert all(ISO.match(d) for d in dates)
    assert "2025-03-01" < dates[0] <= dates[1] <= dates[2]
    assert 0.0 <= report["probability_by_deadline"] <= 1.0
    again = json.loads(run(*args, "--seed", "5", "--paths", "4000", "--json").stdout)
    assert again == report


def test_forecast_table_without_json(tmp_path: Path) -> None:
    completed = run(
        write(tmp_path, SITES), "--target", "150", "--as-of", "2025-03-01", "--paths", "1000"
    )
    assert completed.returncode == 0, completed.stderr
    assert "completion date p50" in completed.stdout
    assert "probability by deadline" not in completed.stdout


def test_bad_row_names_row_and_column(tmp_path: Path) -> None:
    bad = SITES + "S8,IT,2025-13-01,3,\n"
    completed = run(write(tmp_path, bad), "--target", "150", "--as-of", "2025-03-01", "--json")
    assert completed.returncode == 1
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "row 9" in lines[0] and "activation_date" in lines[0]


def test_bad_enrolled_and_missing_plan(tmp_path: Path) -> None:
    completed = run(
        write(tmp_path, SITES.replace("S3,DE,2024-11-01,3,", "S3,DE,2024-11-01,x,")),
        "--target",
        "150",
        "--as-of",
        "2025-03-01",
    )
    assert completed.returncode == 1 and "row 4, column enrolled" in completed.stderr
    completed = run(
        write(tmp_path, SITES.replace("S7,US,,0,2025-04-01", "S7,US,,0,")),
        "--target",
        "150",
        "--as-of",
        "2025-03-01",
    )
    assert completed.returncode == 1 and "row 8, column planned_activation_date" in completed.stderr
    completed = run(write(tmp_path, SITES), "--target", "150", "--as-of", "2024-10-01")
    assert completed.returncode == 1 and "activation_date" in completed.stderr
