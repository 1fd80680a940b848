"""The process-chemistry part of the demo world (issue 7): Eastbridge Pharmatech's chemists keep
two routes to Northwind's NWT-204 drug substance — the first-generation linear route and the
second-generation convergent one (``routes/*.yaml``; the chemistry is invented, see the README
there). Neither is chosen for the plant: the plant's recipe and schedule stay as loaded, and a
visitor can compare the two and hand one over.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opencxo.core.auth.principal import Principal
from opencxo.manufacturing import service as manufacturing
from opencxo.process_chemistry import service as chemistry
from opencxo.process_chemistry import stored as chemistry_store
from opencxo.process_chemistry.models import ChemRoute
from opencxo.process_chemistry.records import RouteImport

ROUTES = Path(__file__).with_name("routes")
ROUTE_FILES = ("nwt-204-gen1-linear.yaml", "nwt-204-gen2-convergent.yaml")


def load_process_chemistry(
    session: Session,
    data: dict[str, Any],
    counts: Counter[str],
    *,
    principal: Callable[[Session, str], Principal],
    organization_id: Callable[[Session, str], uuid.UUID],
) -> None:
    """Import the two routes as the plant's planner, linked to the NWT-204 product (a second
    load adds nothing)."""
    provider_id = organization_id(session, data["provider"])
    chemist = principal(session, data["planner"])
    product = manufacturing.product_by_code(session, chemist, "NWT-204")
    for name in ROUTE_FILES:
        route = chemistry.load_route(ROUTES / name)
        known = session.scalar(
            select(ChemRoute.id).where(
                ChemRoute.organization_id == provider_id, ChemRoute.name == route.name
            )
        )
        if known is not None:
            continue
        chemistry_store.import_route(
            session,
            chemist,
            RouteImport(route=route, product_id=product.id, organization_id=provider_id),
        )
        counts["routes"] += 1
