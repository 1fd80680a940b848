"""``opencxo mfg`` commands of batch records and QA disposition — thin: same services as the API."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``opencxo mfg``."""
    del app
