"""``opencxo clinical recover`` run as a real process on the documented example files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITES = ROOT / "docs" / "examples" / "clinical-recovery-sites.csv"
OFFERS = ROOT / "docs" / "examples" / "clinical-offers.csv"
ARGS = ("--target", "270", "--deadline", "2026-12-31", "--as-of", "2026-03-01", "--paths", "2000")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "clinical", "recover", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_recover_json_on_the_examples() -> None:
    completed = run(str(SITES), str(OFFERS), *ARGS, "--seed", "3", "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["status"] == "met" and report["currency"] == "USD"
    assert report["enrolled_to_date"] == 75 and report["target"] == 270
    assert report["probability_before"] < 0.8 <= report["probability_after"]
    assert report["added"] and all(a["sites"] > 0 for a in report["added"])
    assert report["sites_added"] == sum(a["sites"] for a in report["added"])
    assert abs(report["added_cost"] - sum(a["cost"] for a in report["added"])) < 0.05
    assert abs(report["net_cost"] - (report["added_cost"] - report["savings"])) < 0.05
    offers = {a["offer_id"] for a in report["added"]}
    assert offers <= {"CZ-corvane", "HU-corvane", "ES-corvane", "BR-austral", "US-corvane",
                      "RO-vistula"}  # fmt: skip
    for when in ("completion_before", "completion_after"):
        dates = [report[when][p] for p in ("p10", "p50", "p90")]
        assert all(ISO.match(d) for d in dates) and dates == sorted(dates)
    assert report["completion_after"]["p50"] <= report["completion_before"]["p50"]
    again = json.loads(run(str(SITES), str(OFFERS), *ARGS, "--seed", "3", "--json").stdout)
    assert {k: v for k, v in again.items() if k != "wall_time_s"} == {
        k: v for k, v in report.items() if k != "wall_time_s"
    }


def test_no_closing_and_the_table_output() -> None:
    completed = run(str(SITES), str(OFFERS), *ARGS, "--no-closing", "--json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["closed"] == []
    table = run(str(SITES), str(OFFERS), *ARGS, "--no-closing")
    assert table.returncode == 0, table.stderr
    assert "Sites to add" in table.stdout and "completion P50" in table.stdout


def test_the_close_out_cost_comes_off_each_closures_saving(tmp_path: Path) -> None:
    """--closing-cost: every closure saves its costs to the deadline less the close-out cost
    (the same closures, each 5,000 less); a close-out dearer than any saving closes nothing."""
    sites = tmp_path / "sites.csv"
    # a dear site that has enrolled one patient in nine months: worth closing
    sites.write_text(SITES.read_text() + "FR-001,FR,2025-06-01,1,,25000,9000\n", encoding="utf-8")
    args = (str(sites), str(OFFERS), "--target", "150", *ARGS[2:], "--seed", "3", "--json")
    free = json.loads(run(*args).stdout)
    costly = run(*args, "--closing-cost", "5000")
    assert costly.returncode == 0, costly.stderr
    report = json.loads(costly.stdout)
    assert (free["closing_cost_per_site"], report["closing_cost_per_site"]) == (0, 5000)
    saved = {c["site_id"]: c for c in free["closed"]}
    assert "FR-001" in saved and {c["site_id"] for c in report["closed"]} == set(saved)
    for closure in report["closed"]:
        before = saved[closure["site_id"]]
        assert closure["expected_patients_lost"] == before["expected_patients_lost"]
        assert abs(closure["saving"] - (before["saving"] - 5000)) < 0.011
    assert abs(report["savings"] - (free["savings"] - 5000 * len(saved))) < 0.05
    dear = json.loads(run(*args, "--closing-cost", "10000000").stdout)
    assert dear["closed"] == [] and dear["savings"] == 0
    table = run(*args[:-1], "--closing-cost", "5000")
    assert table.returncode == 0, table.stderr
    assert "net of a close-out cost of 5,000.00 USD per site" in " ".join(table.stdout.split())
    negative = run(*args, "--closing-cost", "-1")
    assert negative.returncode == 2 and negative.stdout == ""
    assert "--closing-cost" in negative.stderr


def test_a_bad_offer_row_names_row_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "offers.csv"
    bad.write_text(OFFERS.read_text().replace("CZ,0.7,60", "CZ,0.7,soon"), encoding="utf-8")
    completed = run(str(SITES), str(bad), *ARGS, "--json")
    assert completed.returncode == 1 and completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "row 2" in lines[0] and "activation_lag_days" in lines[0]
    capacity = tmp_path / "capacity.csv"
    capacity.write_text(OFFERS.read_text().replace(",4,USD\nHU", ",0,USD\nHU"), encoding="utf-8")
    completed = run(str(SITES), str(capacity), *ARGS, "--json")
    assert completed.returncode == 1 and "capacity_sites" in completed.stderr
    late = run(str(SITES), str(OFFERS), *ARGS[:2], "--deadline", "2026-02-01", "--as-of",
               "2026-03-01", "--json")  # fmt: skip
    assert late.returncode == 1 and "--deadline 2026-02-01 is not after" in late.stderr
