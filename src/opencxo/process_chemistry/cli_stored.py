"""``opencxo chem`` commands of the stored library — thin: the same services as the API.

Each command acts as a user (``--as EMAIL``) with that user's permissions, in one transaction;
a mistake is one line on stderr and exit code 1. Heavy imports (the database, RDKit) wait until
a command runs, so the rest of the CLI starts fast.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from opencxo.cli_support import acting_principal, fail, unit_of_work_from_settings, user_errors
from opencxo.core.pagination import every_page

AsUser = Annotated[str, typer.Option("--as", help="act as this user (email)")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


class ExportFormat(StrEnum):
    yaml = "yaml"
    json = "json"


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def import_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="route file (.yaml or .json)")],
    as_user: AsUser,
    product: Annotated[
        str | None, typer.Option(help="code of the manufacturing product the route makes")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Store a route file; its new materials join your organisation's library."""
    from opencxo.manufacturing import service as manufacturing
    from opencxo.process_chemistry import service, stored
    from opencxo.process_chemistry.records import RouteImport

    route = service.load_route(file)
    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        product_id = (
            manufacturing.product_by_code(session, principal, product).id if product else None
        )
        saved = stored.import_route(
            session, principal, RouteImport(route=route, product_id=product_id)
        )
    if as_json:
        typer.echo(saved.model_dump_json(indent=2))
        return
    made = f" making {saved.product_code}" if saved.product_code else ""
    typer.echo(
        f"stored route '{saved.name}'{made}: {saved.step_count} steps (LLS "
        f"{saved.longest_linear_sequence}), PMI {saved.pmi:.2f} kg/kg, COGS "
        f"{saved.cogs_per_kg:.2f} {saved.currency}/kg"
    )


def routes_command(as_user: AsUser, as_json: AsJson = False) -> None:
    """Your organisations' stored routes, by name, with their evaluation."""
    from opencxo.process_chemistry import stored

    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        items = every_page(lambda p: stored.list_routes(session, principal, p))
    if as_json:
        typer.echo(_dump([i.model_dump(mode="json") for i in items]))
        return
    if not items:
        typer.echo("no stored routes yet; store one with 'opencxo chem import FILE --as EMAIL'")
        return
    for i in items:
        chosen = " (chosen)" if i.chosen else ""
        product = i.product_code or "-"
        typer.echo(
            f"{i.name:<32} {product:<10} {i.step_count} steps, LLS {i.longest_linear_sequence}, "
            f"PMI {i.pmi:.2f}, COGS {i.cogs_per_kg:.2f} {i.currency}/kg{chosen}"
        )


def export_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the stored route's name")],
    as_user: AsUser,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="yaml or json")] = ExportFormat.yaml,
    output: Annotated[
        Path | None, typer.Option(help="write the file here (default: print it)", dir_okay=False)
    ] = None,
) -> None:
    """The stored route as a route file, with its materials from the library."""
    from opencxo.process_chemistry import stored

    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        route = stored.route_named(session, principal, name)
        _, text = stored.export_route(session, principal, route.id, fmt.value)
    if output is None:
        typer.echo(text.rstrip("\n"))
        return
    try:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as error:
        raise fail(f"--output {output}: {error.strerror or error}") from None
    typer.echo(f"wrote {output}")


def materials_command(as_user: AsUser, as_json: AsJson = False) -> None:
    """Your organisations' material library, by name."""
    from opencxo.process_chemistry import stored

    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        items = every_page(lambda p: stored.list_materials(session, principal, p))
    if as_json:
        typer.echo(_dump([i.model_dump(mode="json") for i in items]))
        return
    if not items:
        typer.echo("the library is empty; importing a route adds its materials")
        return
    for i in items:
        used = f", used by {len(i.used_by)} route(s)" if i.used_by else ""
        typer.echo(f"{i.name:<28} {i.price_per_kg.normalize():f} {i.currency}/kg{used}")


def choose_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the stored route's name")],
    plant: Annotated[str, typer.Option(help="the plant's name (or id)")],
    as_user: AsUser,
    as_json: AsJson = False,
) -> None:
    """Choose the route for its product: it becomes the product's recipe at the plant."""
    from opencxo.manufacturing import service as manufacturing
    from opencxo.process_chemistry import stored
    from opencxo.process_chemistry.records import ChooseRoute

    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        route = stored.route_named(session, principal, name)
        site = manufacturing.plant_named(session, principal, plant)
        chosen = stored.choose_route(
            session, principal, route.id, ChooseRoute(plant_id=site.id, version=route.version)
        )
    if as_json:
        typer.echo(chosen.model_dump_json(indent=2))
        return
    recipe = chosen.recipe
    action = "replaced" if chosen.recipe_replaced else "created"
    typer.echo(
        f"chose '{chosen.route.name}' for {recipe.product_code}: {action} its recipe at "
        f"{recipe.plant_name}, batch {recipe.batch_size.normalize():f} kg, output "
        f"{recipe.output_per_batch.normalize():f} kg, {len(recipe.steps)} steps, "
        f"{len(recipe.bom)} materials"
    )


def register(app: typer.Typer) -> None:
    """Add the stored-library commands to ``opencxo chem``."""
    app.command("import")(user_errors(import_command))
    app.command("routes")(user_errors(routes_command))
    app.command("export")(user_errors(export_command))
    app.command("materials")(user_errors(materials_command))
    app.command("choose")(user_errors(choose_command))
