"""``opencxo econ`` run as a real process (no database needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COST_KEYS = {
    "success_rate",
    "out_of_pocket_clinical_musd",
    "out_of_pocket_total_musd",
    "capitalized_preclinical_musd",
    "capitalized_clinical_musd",
    "capitalized_total_musd",
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opencxo.cli", "econ", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cost_per_approval_dimasi2016_json() -> None:
    completed = run("cost-per-approval", "--preset", "dimasi2016", "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report.keys() >= COST_KEYS
    assert report["success_rate"] == 0.1183
    assert report["out_of_pocket_clinical_musd"] == pytest.approx(965, rel=0.01)
    assert report["out_of_pocket_total_musd"] == pytest.approx(1395, rel=0.01)
    assert report["capitalized_preclinical_musd"] == pytest.approx(1098, rel=0.01)
    assert report["capitalized_clinical_musd"] == 1529.4
    assert report["capitalized_total_musd"] == 2628.0
    assert report["published_musd"]["capitalized_clinical"] == 1460.0
    assert "DiMasi" in report["citation"]
    assert [phase["name"] for phase in report["phases"]][:3] == ["Phase I", "Phase II", "Phase III"]


def test_discount_rate_override_and_table() -> None:
    zero = json.loads(run("cost-per-approval", "--discount-rate", "0", "--json").stdout)
    assert zero["capitalized_total_musd"] == zero["out_of_pocket_total_musd"]
    assert "published_musd" not in zero  # the published figures are at 10.5 % only
    table = run("cost-per-approval")
    assert table.returncode == 0, table.stderr
    assert "capitalised, clinical" in table.stdout and "1,529.4" in table.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("cost-per-approval", "--preset", "dimasi1991", "--json"), "dimasi2016"),
        (("cost-per-approval", "--discount-rate", "10.5"), "discount_rate = 10.5"),
        (("reference", "--area", "astrology"), "oncology"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(args: tuple[str, ...], needle: str) -> None:
    completed = run(*args)
    assert completed.returncode == 1
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


def test_reference_prints_bio_figures() -> None:
    completed = run("reference", "--area", "all_indications", "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["loa_from_p1"] == 0.0787
    assert report["durations_years"]["total"] == 10.5
    no_durations = json.loads(run("reference", "--area", "vaccines", "--json").stdout)
    assert no_durations["durations_years"] is None
    assert "LOA from Phase I" in run("reference", "--area", "oncology").stdout


def test_every_econ_command_has_help() -> None:
    for command in ([], ["cost-per-approval"], ["reference"]):
        completed = run(*command, "--help")
        assert completed.returncode == 0, (command, completed.stderr)
        assert "Usage" in completed.stdout
