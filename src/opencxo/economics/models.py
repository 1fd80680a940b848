"""Stored valuation scenarios, their valuations, and portfolios.

A scenario row keeps the scenario file (``spec``, a :class:`~opencxo.economics.schemas.ScenarioInput`
as JSON) so what was valued can always be read back as it was written; a valuation keeps its whole
report (a :class:`~opencxo.economics.schemas.ValuationReport` as JSON), with the two figures lists
sort by as columns. Sponsor-private, like the programs they value.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opencxo.core.db import Base, IdMixin, TimestampMixin, VersionedMixin
from opencxo.core.types import utcnow


class ValuationScenario(IdMixin, TimestampMixin, VersionedMixin, Base):
    """One way to develop and sell one program, as a scenario file."""

    __tablename__ = "valuation_scenarios"
    __table_args__ = (UniqueConstraint("sponsor_id", "name"),)

    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("programs.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )

    valuations: Mapped[list[Valuation]] = relationship(
        back_populates="scenario", cascade="all, delete-orphan", passive_deletes=True
    )


class Valuation(IdMixin, Base):
    """One Monte Carlo valuation of a scenario, as it was when it ran."""

    __tablename__ = "valuations"

    scenario_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("valuation_scenarios.id", ondelete="CASCADE"), index=True
    )
    scenario_version: Mapped[int]
    trials: Mapped[int]
    seed: Mapped[int] = mapped_column(BigInteger())
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    rnpv_mean_musd: Mapped[float]
    probability_of_approval: Mapped[float]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )

    scenario: Mapped[ValuationScenario] = relationship(back_populates="valuations")


class Portfolio(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A portfolio file (programs, their options, yearly budgets) and its last run."""

    __tablename__ = "valuation_portfolios"
    __table_args__ = (UniqueConstraint("sponsor_id", "name"),)

    sponsor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    run_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
