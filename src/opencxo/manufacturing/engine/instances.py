"""Readers for the standard scheduling benchmark files.

Classic job shop (``jssp``, the JSPLIB / OR-Library layout)::

    # comment lines start with '#'
    <jobs> <machines>
    one line per job: pairs "<machine> <duration>" in processing order, machines from 0

Brandimarte flexible job shop (``fjsp``, the original 1993 layout)::

    <jobs> <machines> [<average machines per operation>]
    one line per job: <operations>, then per operation <k> followed by k pairs
    "<machine> <duration>", machines numbered from 1

Blank lines and lines starting with ``#`` are skipped in both. Errors name the line (1-based,
as an editor shows it) and what is wrong there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .model import MAX_TIME, MAX_UNITS, Job, Mode, Operation, Problem

__all__ = ["InstanceFormat", "InstanceFormatError", "parse_fjsp", "parse_jssp", "read_instance"]

InstanceFormat = Literal["jssp", "fjsp"]


class InstanceFormatError(ValueError):
    """A benchmark file that does not follow its format; ``line`` is 1-based (0: whole file)."""

    def __init__(self, message: str, line: int = 0, source: str = "") -> None:
        self.line = line
        self.source = source
        self.message = message
        where = source or "instance"
        if line:
            where += f", line {line}"
        super().__init__(f"{where}: {message}")


def _lines(text: str) -> list[tuple[int, str]]:
    """Non-blank, non-comment lines with their 1-based numbers."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append((number, line))
    return out


def _ints(line: str, number: int, source: str, what: str) -> list[int]:
    values = []
    for token in line.split():
        try:
            values.append(int(token))
        except ValueError:
            raise InstanceFormatError(
                f"{what}: {token!r} is not a whole number", number, source
            ) from None
    return values


def _header(lines: list[tuple[int, str]], source: str, extra_ok: bool) -> tuple[int, int]:
    if not lines:
        raise InstanceFormatError(
            "no header line '<jobs> <machines>' (the file is empty)", 0, source
        )
    number, line = lines[0]
    tokens = line.split()
    if len(tokens) < 2 or (len(tokens) > 2 and not extra_ok) or len(tokens) > 3:
        expected = "<jobs> <machines> [<average>]" if extra_ok else "<jobs> <machines>"
        raise InstanceFormatError(f"header must be '{expected}', found {line!r}", number, source)
    jobs, machines = _ints(" ".join(tokens[:2]), number, source, "header")
    if len(tokens) == 3:
        try:
            float(tokens[2])
        except ValueError:
            raise InstanceFormatError(
                f"header: average machines per operation {tokens[2]!r} is not a number",
                number, source,
            ) from None  # fmt: skip
    if jobs < 1 or machines < 1:
        raise InstanceFormatError(
            f"header: jobs ({jobs}) and machines ({machines}) must be >= 1", number, source
        )
    if machines > MAX_UNITS:
        raise InstanceFormatError(
            f"header: machines ({machines}) must be at most {MAX_UNITS}", number, source
        )
    if len(lines) - 1 < jobs:
        raise InstanceFormatError(
            f"the header announces {jobs} jobs but {len(lines) - 1} job lines follow",
            number,
            source,
        )
    if len(lines) - 1 > jobs:
        extra = lines[jobs + 1][0]
        raise InstanceFormatError(
            f"the header announces {jobs} jobs but there are more lines", extra, source
        )
    return jobs, machines


def _mode(
    machine: int, duration: int, machines: int, first: int, number: int, source: str, where: str
) -> Mode:
    if not first <= machine < machines + first:
        raise InstanceFormatError(
            f"{where}: machine {machine} outside {first}..{machines + first - 1}", number, source
        )
    if not 1 <= duration <= MAX_TIME:
        raise InstanceFormatError(
            f"{where}: duration {duration} must be in 1..{MAX_TIME}", number, source
        )
    return Mode(machine - first, duration)


def parse_jssp(text: str, name: str = "") -> Problem:
    """Read a classic job-shop instance (machines numbered from 0).

    Raises
    ------
    InstanceFormatError
        Naming the line and what is wrong (odd number of values, machine out of range …).
    """
    lines = _lines(text)
    _, machines = _header(lines, name, extra_ok=False)
    parsed = []
    for j, (number, line) in enumerate(lines[1:], start=0):
        values = _ints(line, number, name, f"job {j}")
        if not values or len(values) % 2:
            raise InstanceFormatError(
                f"job {j}: expected pairs '<machine> <duration>', found {len(values)} numbers",
                number, name,
            )  # fmt: skip
        ops = tuple(
            Operation(
                (
                    _mode(
                        values[i], values[i + 1], machines, 0, number, name, f"job {j} op {i // 2}"
                    ),
                )
            )
            for i in range(0, len(values), 2)
        )
        parsed.append(Job(ops, name=f"J{j}"))
    return Problem(units=machines, jobs=tuple(parsed), name=name)


def parse_fjsp(text: str, name: str = "") -> Problem:
    """Read a Brandimarte flexible job-shop instance (machines numbered from 1).

    Raises
    ------
    InstanceFormatError
        Naming the line and what is wrong (too few or too many numbers for the operations
        announced, a machine out of range, a machine listed twice for one operation …).
    """
    lines = _lines(text)
    _, machines = _header(lines, name, extra_ok=True)
    parsed = []
    for j, (number, line) in enumerate(lines[1:], start=0):
        values = _ints(line, number, name, f"job {j}")
        if not values or values[0] < 1:
            raise InstanceFormatError(
                f"job {j}: the line must start with its number of operations (>= 1)", number, name
            )
        pos = 1
        ops = []
        for k in range(values[0]):
            where = f"job {j} operation {k}"
            if pos >= len(values):
                raise InstanceFormatError(
                    f"{where}: the line ends; {values[0]} operations were announced", number, name
                )
            count = values[pos]
            pos += 1
            if count < 1:
                raise InstanceFormatError(
                    f"{where}: number of eligible machines {count} must be >= 1", number, name
                )
            if pos + 2 * count > len(values):
                raise InstanceFormatError(
                    f"{where}: {count} machine/duration pairs announced, the line ends first",
                    number, name,
                )  # fmt: skip
            modes = [
                _mode(
                    values[pos + 2 * i], values[pos + 2 * i + 1], machines, 1, number, name, where
                )
                for i in range(count)
            ]
            pos += 2 * count
            units = [m.unit + 1 for m in modes]
            if len(set(units)) != len(units):
                raise InstanceFormatError(f"{where}: a machine is listed twice", number, name)
            ops.append(Operation(tuple(modes)))
        if pos != len(values):
            raise InstanceFormatError(
                f"job {j}: {len(values) - pos} numbers left after its {values[0]} operations",
                number, name,
            )  # fmt: skip
        parsed.append(Job(tuple(ops), name=f"J{j}"))
    return Problem(units=machines, jobs=tuple(parsed), name=name)


def read_instance(path: str | Path, fmt: InstanceFormat) -> Problem:
    """Read ``path`` as ``fmt`` (``"jssp"`` or ``"fjsp"``); the problem is named after the file.

    Raises
    ------
    InstanceFormatError
        Unreadable file, not text, unknown format or a format error (with its line).
    """
    p = Path(path)
    if fmt not in ("jssp", "fjsp"):
        raise InstanceFormatError(f"unknown format {fmt!r}; use 'jssp' or 'fjsp'", 0, str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InstanceFormatError("not a text file", 0, str(p)) from None
    except OSError as exc:
        raise InstanceFormatError(f"cannot be read ({exc.strerror})", 0, str(p)) from None
    name = p.name.removesuffix(".txt")
    parse = parse_jssp if fmt == "jssp" else parse_fjsp
    try:
        return parse(text, name)
    except InstanceFormatError as exc:
        raise InstanceFormatError(exc.message, exc.line, str(p)) from None
