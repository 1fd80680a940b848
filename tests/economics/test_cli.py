"""``opencxo econ`` run as a real process (no database needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
RNPV_KEYS = {
    "rnpv_mean_musd",
    "rnpv_p05_musd",
    "rnpv_p50_musd",
    "rnpv_p95_musd",
    "probability_of_approval",
    "expected_cost_musd",
}

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
        (("rnpv", "no-such-file.yaml"), "cannot read no-such-file.yaml"),
        (("rnpv", str(EXAMPLES / "portfolio.yaml")), "current_phase: Field required"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(args: tuple[str, ...], needle: str) -> None:
    completed = run(*args)
    assert completed.returncode == 1
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


TOO_DEEP = b"[" * 5000 + b"]" * 5000  # about 10 KB, too deep for any parser


@pytest.mark.parametrize(
    ("command", "content", "needle"),
    [
        ("rnpv", TOO_DEEP, "is too deeply nested to read"),
        ("tornado", TOO_DEEP, "is too deeply nested to read"),
        ("compare", TOO_DEEP, "is too deeply nested to read"),
        ("portfolio", TOO_DEEP, "is too deeply nested to read"),
        ("rnpv", b"\xff\xfe", "is not UTF-8 text; save it as UTF-8"),
    ],
)
def test_a_too_deep_or_non_utf8_file_is_one_line_and_exit_1(
    tmp_path: Path, command: str, content: bytes, needle: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    files = [str(path), str(path)] if command == "compare" else [str(path)]
    completed = run(command, *files)
    assert completed.returncode == 1
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: bad.yaml {needle}")


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
    for command in (
        [],
        ["cost-per-approval"],
        ["reference"],
        ["rnpv"],
        ["compare"],
        ["tornado"],
        ["portfolio"],
    ):
        completed = run(*command, "--help")
        assert completed.returncode == 0, (command, completed.stderr)
        assert "Usage" in completed.stdout


def test_rnpv_json_is_reproducible_with_a_seed() -> None:
    args = (
        "rnpv",
        str(EXAMPLES / "nwt-204-in-house.yaml"),
        "--trials",
        "20000",
        "--seed",
        "5",
        "--json",
    )
    first = run(*args)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report.keys() >= RNPV_KEYS
    assert report["trials"] == 20000 and report["seed"] == 5
    assert report["rnpv_p05_musd"] <= report["rnpv_p50_musd"] <= report["rnpv_p95_musd"]
    assert json.loads(run(*args).stdout) == report
    table = run("rnpv", str(EXAMPLES / "nwt-204-in-house.yaml"), "--trials", "5000")
    assert table.returncode == 0 and "probability of approval" in table.stdout


def test_compare_tornado_and_portfolio_print_json() -> None:
    in_house, with_cro = (str(EXAMPLES / f"nwt-204-{n}.yaml") for n in ("in-house", "outsourced"))
    compared = json.loads(run("compare", in_house, with_cro, "--trials", "20000", "--json").stdout)
    deltas = {d["name"]: d for d in compared["deltas"]}
    assert deltas["launch_years"]["difference"] == pytest.approx(-10 / 12)
    assert deltas["expected_protected_sales_musd"]["ci_low"] > 0
    bars = json.loads(run("tornado", in_house, "--trials", "2000", "--json").stdout)["bars"]
    assert [b["range_musd"] for b in bars] == sorted((b["range_musd"] for b in bars), reverse=True)
    chosen = json.loads(run("portfolio", str(EXAMPLES / "portfolio.yaml"), "--json").stdout)
    assert chosen["status"] == "optimal"
    assert set(chosen["funded"]) == {"NWT-204", "NWT-311", "NWT-402"}
