"""Readers of the classic job-shop and the Brandimarte flexible job-shop formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencxo.manufacturing.engine import (
    InstanceFormatError,
    Mode,
    parse_fjsp,
    parse_jssp,
    read_instance,
)

DATA = Path(__file__).parent / "data"


def test_ft06_is_read_with_its_comments() -> None:
    problem = read_instance(DATA / "ft06", "jssp")
    assert problem.name == "ft06"
    assert problem.units == 6
    assert len(problem.jobs) == 6
    assert all(len(job.operations) == 6 for job in problem.jobs)
    first = problem.jobs[0].operations
    assert [op.modes for op in first[:3]] == [(Mode(2, 1),), (Mode(0, 3),), (Mode(1, 6),)]


def test_mk01_machines_are_shifted_to_zero() -> None:
    problem = read_instance(DATA / "mk01.txt", "fjsp")
    assert problem.name == "mk01"
    assert (problem.units, len(problem.jobs), problem.operation_count) == (6, 10, 55)
    # job 0: "6  2 1 5 3 4  3 5 3 3 5 2 1 ..." -> op 0 on machine 1 (5) or 3 (4)
    assert problem.jobs[0].operations[0].modes == (Mode(0, 5), Mode(2, 4))
    assert problem.jobs[0].operations[1].modes == (Mode(4, 3), Mode(2, 5), Mode(1, 1))


def test_comments_and_blank_lines_anywhere() -> None:
    text = "# a comment\n\n2 2\n# between jobs\n0 3 1 2\n\n1 4 0 1\n"
    problem = parse_jssp(text, "tiny")
    assert [len(j.operations) for j in problem.jobs] == [2, 2]
    fjsp = parse_fjsp("# c\n1 2 1.5\n2  1 1 3  2 1 2 2 4\n", "f")
    assert fjsp.jobs[0].operations[1].modes == (Mode(0, 2), Mode(1, 4))


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 0, "empty"),
        ("# only a comment\n", 0, "empty"),
        ("2\n0 1\n", 1, "header must be"),
        ("2 2 7\n0 1\n1 1\n", 1, "header must be"),
        ("x 2\n0 1\n", 1, "'x' is not a whole number"),
        ("2 2\n0 3 1\n1 2 0 3\n", 2, "pairs"),
        ("2 2\n0 3 1 2\n1 2 5 3\n", 3, "machine 5 outside 0..1"),
        ("2 2\n0 3 1 0\n1 2 0 3\n", 2, "duration 0 must be in 1..1000000000"),
        ("1 1\n0 1000000001\n", 2, "duration 1000000001 must be in 1..1000000000"),
        ("1 100001\n0 1\n", 1, "machines (100001) must be at most 100000"),
        ("3 2\n0 3 1 2\n1 2 0 3\n", 1, "announces 3 jobs but 2 job lines follow"),
        ("1 2\n0 3 1 2\n1 2 0 3\n", 3, "more lines"),
        ("# c\n1 2\n\n0 3 1 2.5\n", 4, "'2.5' is not a whole number"),
    ],
)
def test_jssp_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(InstanceFormatError) as info:
        parse_jssp(text, "bad")
    assert info.value.line == line
    assert words in str(info.value)
    if line:
        assert f"line {line}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("1 2 1\n0\n", 2, "number of operations"),
        ("1 2 1\n2 1 1 3\n", 2, "job 0 operation 1: the line ends"),
        ("1 2 1\n1 2 1 3\n", 2, "2 machine/duration pairs announced"),
        ("1 2 1\n1 1 0 3\n", 2, "machine 0 outside 1..2"),
        ("1 2 1\n1 1 3 3\n", 2, "machine 3 outside 1..2"),
        ("1 2 1\n1 2 1 3 1 4\n", 2, "listed twice"),
        ("1 2 1\n1 1 1 3 9\n", 2, "1 numbers left"),
        ("1 2 1\n1 0\n", 2, "must be >= 1"),
        ("1 2 1\n1 1 1 99999999999999999999\n", 2, "must be in 1..1000000000"),
        ("1 2 x\n1 1 1 3\n", 1, "is not a number"),
    ],
)
def test_fjsp_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(InstanceFormatError) as info:
        parse_fjsp(text, "bad")
    assert info.value.line == line
    assert words in str(info.value)


def test_read_instance_errors(tmp_path: Path) -> None:
    with pytest.raises(InstanceFormatError, match="cannot be read"):
        read_instance(tmp_path / "missing.txt", "jssp")
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(InstanceFormatError, match="not a text file"):
        read_instance(binary, "jssp")
    bad = tmp_path / "bad.txt"
    bad.write_text("1 1\n0 -3\n")
    with pytest.raises(InstanceFormatError, match=r"bad.txt, line 2: job 0 op 0: duration -3"):
        read_instance(bad, "jssp")
    with pytest.raises(InstanceFormatError, match="unknown format"):
        read_instance(bad, "xml")  # type: ignore[arg-type]
