"""``opencxo mfg`` commands of master data and orders — thin: same services as the API.

Each command acts as a user (``--as EMAIL``) with that user's permissions, in one transaction.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from opencxo.cli_support import acting_principal, fail, unit_of_work_from_settings, user_errors
from opencxo.core.pagination import every_page

AsUser = Annotated[str, typer.Option("--as", help="act as this user (email)")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def _dump(value: Any) -> str:
    return json.dumps(value, default=str)


def plants(as_user: AsUser, as_json: AsJson = False) -> None:
    """The plants of your provider organisations, with their units in service."""
    from opencxo.manufacturing import service

    with unit_of_work_from_settings() as session:
        rows = service.list_plants(session, acting_principal(session, as_user))
        if as_json:
            typer.echo(_dump([r.model_dump(mode="json") for r in rows]))
            return
        for r in rows:
            typer.echo(f"{r.id}  {r.name} ({r.provider_name}): {r.unit_count} units in service")


def products(as_user: AsUser, as_json: AsJson = False) -> None:
    """Products your plants make, or (for a sponsor) those made for you."""
    from opencxo.manufacturing import service

    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        items = every_page(lambda p: service.list_products(session, principal, params=p))
        if as_json:
            typer.echo(_dump([i.model_dump(mode="json") for i in items]))
            return
        for i in items:
            typer.echo(
                f"{i.code:<12} {i.kind.value:<13} {i.unit.value:<6} {i.name} — {i.sponsor_name}"
            )


def orders(
    as_user: AsUser,
    status: Annotated[
        str | None, typer.Option(help="open, scheduled, in_progress, completed or cancelled")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Production orders of your plants, or (for a sponsor) those made for you."""
    from opencxo.manufacturing import service
    from opencxo.manufacturing.models import OrderStatus

    try:
        chosen = OrderStatus(status) if status else None
    except ValueError:
        raise fail(
            f"--status {status}: use one of {', '.join(s.value for s in OrderStatus)}"
        ) from None
    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        items = every_page(
            lambda p: service.list_orders(session, principal, params=p, status=chosen)
        )
        if as_json:
            typer.echo(_dump([i.model_dump(mode="json") for i in items]))
            return
        for i in items:
            typer.echo(
                f"{i.number:<14} {i.product_code:<10} {i.quantity.normalize():f} {i.unit.value} "
                f"due {i.due_date} priority {i.priority} {i.status.value} ({i.sponsor_name})"
            )


def order_create(
    as_user: AsUser,
    product: Annotated[str, typer.Option(help="the product's code")],
    plant: Annotated[str, typer.Option(help="the plant's name or id")],
    quantity: Annotated[str, typer.Option(help="in the product's unit (kg or units)")],
    due: Annotated[str, typer.Option(help="due date, YYYY-MM-DD")],
    priority: Annotated[int, typer.Option(help="1 (routine) … 10 (critical)", min=1, max=10)] = 1,
    as_json: AsJson = False,
) -> None:
    """Create a production order (numbered PO-<year>-<NNN>)."""
    from opencxo.manufacturing import service
    from opencxo.manufacturing.schemas import OrderCreate

    try:
        due_date = date.fromisoformat(due)
    except ValueError:
        raise fail(f"--due {due!r} is not a date (YYYY-MM-DD)") from None
    try:
        amount = Decimal(quantity)
    except InvalidOperation:
        raise fail(f"--quantity {quantity!r} is not a number") from None
    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        found = service.product_by_code(session, principal, product)
        site = service.plant_named(session, principal, plant)
        order = service.create_order(
            session,
            principal,
            OrderCreate(product_id=found.id, plant_id=site.id, quantity=amount, due_date=due_date,
                        priority=priority),
        )  # fmt: skip
        if as_json:
            typer.echo(_dump(order.model_dump(mode="json")))
        else:
            typer.echo(
                f"created {order.number}: {order.quantity.normalize():f} {order.unit.value} of "
                f"{order.product_code} at {order.plant_name}, due {order.due_date}"
            )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``opencxo mfg``."""
    app.command("plants")(user_errors(plants))
    app.command("products")(user_errors(products))
    app.command("orders")(user_errors(orders))
    app.command("order-create")(user_errors(order_create))
