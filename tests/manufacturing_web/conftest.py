"""Fixtures of the manufacturing browser walk: the manufacturing tests' ``plant`` (committed, so
the live server sees it), with two more release tests on sponsor B's API-B."""

from __future__ import annotations

from decimal import Decimal

import pytest

from opencxo.manufacturing.models import Specification
from tests.manufacturing.conftest import PlantWorld, plant

__all__ = ["plant", "walk_plant"]


@pytest.fixture
def walk_plant(plant: PlantWorld) -> PlantWorld:
    """The plant, API-B released on three tests: assay (the fixture's), water and appearance
    (a text criterion), so the walk records a numeric and a conformance result."""
    for position, test, method, upper, unit, text in [
        (10, "Water (KF)", "USP <921> Ia", "0.5", "%", None),
        (11, "Appearance", "Visual", None, "", "White crystalline powder"),
    ]:
        spec = Specification(
            product_id=plant.products["API-B"],
            position=position,
            test=test,
            method=method,
            lower_limit=None,
            upper_limit=Decimal(upper) if upper else None,
            result_unit=unit,
            acceptance_text=text,
        )
        plant.session.add(spec)
        plant.session.flush()
        plant.specifications[f"API-B/{test}"] = spec.id
    plant.session.commit()
    return plant
