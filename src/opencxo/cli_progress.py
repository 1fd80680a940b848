"""Command-line plumbing for long runs (Monte Carlo, solvers): a progress bar, clean stdout."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr while a long run works (none when stderr is not a terminal,
    so piped JSON on stdout stays clean); yields the ``progress(done, total)`` callback."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def native_output_to_stderr() -> Iterator[None]:
    """Send what native libraries write to the process's stdout (HiGHS prints debug lines
    there, whatever its options say) to stderr while a solver runs, so that ``--json`` output
    on stdout stays one JSON document. Only for the single-threaded command line."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor behind stdout (e.g. captured in-process)
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
