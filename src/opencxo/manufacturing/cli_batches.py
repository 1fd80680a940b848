"""``opencxo mfg`` commands of batch records and QA disposition — thin: same services as the API.

``batches`` lists, ``batch`` prints one record, ``release`` signs a release (the password is
asked for hidden, or read from stdin with ``--password-stdin``), ``coa`` prints or saves the
certificate of analysis. Every command acts as ``--as EMAIL`` with that user's permissions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from opencxo.cli_support import acting_principal, fail, unit_of_work_from_settings, user_errors

AsUser = Annotated[str, typer.Option("--as", metavar="EMAIL", help="act as this user")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def _dump(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json"), indent=2)


def batches(
    as_user: AsUser,
    status: Annotated[
        str | None,
        typer.Option(help="planned, in_progress, completed, released or rejected"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List the batches you can read (newest change first, up to 100)."""
    from opencxo.core.pagination import PageParams
    from opencxo.manufacturing import batch_records as service
    from opencxo.manufacturing.models import BatchStatus

    allowed = [s.value for s in BatchStatus]
    if status is not None and status not in allowed:
        raise fail(f"--status {status}: choose one of {', '.join(allowed)}")
    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        page = service.list_batches(
            session,
            principal,
            params=PageParams(page=1, page_size=100),
            status=BatchStatus(status) if status else None,
        )
    if as_json:
        typer.echo(_dump(page))
        return
    if not page.items:
        typer.echo("no batches")
    for b in page.items:
        flags = (" OOS" if b.out_of_specification else "") + (
            f" {b.open_deviations} open deviation(s)" if b.open_deviations else ""
        )
        typer.echo(
            f"{b.batch_number:<18} {b.product_code:<10} {b.status.value:<12} "
            f"{b.order_number:<14} {b.sponsor_name}{flags}"
        )


def batch(
    batch_number: Annotated[str, typer.Argument(metavar="BATCH_NUMBER")],
    as_user: AsUser,
    as_json: AsJson = False,
) -> None:
    """Print a batch record: steps, materials, deviations, QC results, disposition."""
    from opencxo.manufacturing import batch_records as service

    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        record = service.get_batch(
            session, principal, service.find_batch(session, principal, batch_number)
        )
    if as_json:
        typer.echo(_dump(record))
        return
    typer.echo(
        f"{record.batch_number}  {record.product_code} {record.product_name}  [{record.status.value}]"
    )
    typer.echo(
        f"order {record.order_number} for {record.sponsor_name}; made by {record.provider_name}"
    )
    for step in record.steps:
        typer.echo(
            f"  step {step.sequence} {step.operation}: unit {step.unit_code or '—'}, "
            f"{step.started_at or '—'} → {step.ended_at or '—'}"
        )
    for line in record.qc:
        result = line.result
        shown = "no result" if result is None else (
            f"{result.value if result.value is not None else result.text_result}"
            + (" OOS" if result.out_of_specification else "")
        )  # fmt: skip
        typer.echo(f"  QC {line.test}: {shown}")
    for d in record.deviations:
        typer.echo(
            f"  {d.number} ({d.severity.value}) {'open' if d.is_open else 'closed'}: {d.description}"
        )
    if record.disposition.signature:
        sig = record.disposition.signature
        typer.echo(
            f"{record.status.value} by {sig.signer_name} on {sig.signed_at:%Y-%m-%d %H:%M} UTC ({sig.meaning})"
        )
    elif record.release_blockers:
        typer.echo("release blocked: " + "; ".join(record.release_blockers))


def release(
    batch_number: Annotated[str, typer.Argument(metavar="BATCH_NUMBER")],
    as_user: AsUser,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Release a completed batch with your e-signature (QA: batches:release)."""
    from opencxo.manufacturing import batch_records as service
    from opencxo.manufacturing.batch_schemas import BatchRelease

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password (e-signature, meaning: released)", hide_input=True)
    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        batch_id = service.find_batch(session, principal, batch_number)
        current = service.get_batch(session, principal, batch_id)
        record = service.release_batch(
            session, principal, batch_id, BatchRelease(version=current.version, password=password)
        )
    if as_json:
        typer.echo(_dump(record))
        return
    sig = record.disposition.signature
    assert sig is not None
    typer.echo(
        f"{record.batch_number} released by {sig.signer_name} on "
        f"{sig.signed_at:%Y-%m-%d %H:%M} UTC (meaning: {sig.meaning})"
    )


def coa(
    batch_number: Annotated[str, typer.Argument(metavar="BATCH_NUMBER")],
    as_user: AsUser,
    pdf: Annotated[
        Path | None, typer.Option("--pdf", metavar="FILE", help="save the PDF here")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The certificate of analysis of a released batch."""
    from opencxo.manufacturing import batch_pdf
    from opencxo.manufacturing import batch_records as service

    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        certificate = service.certificate(
            session, principal, service.find_batch(session, principal, batch_number)
        )
    if pdf is not None:
        try:
            pdf.write_bytes(batch_pdf.coa_pdf(certificate))
        except OSError as error:
            raise fail(f"--pdf {pdf}: {error.strerror or error}") from None
    if as_json:
        typer.echo(_dump(certificate))
        return
    typer.echo(
        f"Certificate of analysis — {certificate.product.name} batch {certificate.batch_number}"
    )
    typer.echo(f"manufactured {certificate.manufactured_on}, expiry {certificate.expiry_date or '—'}, "
               f"{certificate.quantity.normalize():f} {certificate.unit}")  # fmt: skip
    for t in certificate.tests:
        typer.echo(
            f"  {t.test} ({t.method}): {t.result} — limits {t.acceptance} — {'conforms' if t.conforms else 'DOES NOT CONFORM'}"
        )
    r = certificate.release
    typer.echo(f"released by {r.signer_name} on {r.signed_at:%Y-%m-%d %H:%M} UTC ({r.meaning})")
    if pdf is not None:
        typer.echo(f"PDF saved to {pdf}")


def deliver(
    batch_number: Annotated[str, typer.Argument(metavar="BATCH_NUMBER")],
    milestone: Annotated[
        int,
        typer.Option("--milestone", metavar="N", help="the milestone's number on the work order"),
    ],
    as_user: AsUser,
    note: Annotated[
        str, typer.Option("--note", help="default: the batch, product and quantity")
    ] = "",
    as_json: AsJson = False,
) -> None:
    """Submit a released batch's certificate of analysis as the deliverable of milestone N of
    the work order behind its order (the provider; needs manufacturing:write and contracts:write)."""
    from opencxo.manufacturing import batch_pdf
    from opencxo.manufacturing import batch_records as service
    from opencxo.manufacturing.batch_schemas import CertificateDelivery

    with unit_of_work_from_settings() as session:
        principal = acting_principal(session, as_user)
        batch_id = service.find_batch(session, principal, batch_number)
        choices = {c.position: c for c in service.milestone_choices(session, principal, batch_id)}
        if milestone not in choices:
            open_ones = ", ".join(str(n) for n in sorted(choices)) or "none"
            raise fail(
                f"milestone {milestone} cannot take {batch_number}'s certificate; the milestones "
                f"open for a delivery: {open_ones} (a released batch whose order has a work order)"
            )
        chosen = choices[milestone]
        submitted = service.deliver_certificate(
            session,
            principal,
            batch_id,
            CertificateDelivery(milestone_id=chosen.id, version=chosen.version, note=note),
            batch_pdf.coa_file,
        )
    if as_json:
        typer.echo(_dump(submitted))
        return
    files = ", ".join(d.filename for d in submitted.deliverables)
    typer.echo(
        f"milestone {submitted.position} submitted with {files}; the sponsor is asked to accept it"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``opencxo mfg``."""
    app.command("batches")(user_errors(batches))
    app.command("batch")(user_errors(batch))
    app.command("deliver")(user_errors(deliver))
    app.command("release")(user_errors(release))
    app.command("coa")(user_errors(coa))
