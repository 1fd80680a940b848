"""The certificate of analysis as an A4 PDF (reportlab): product and batch facts, the test
results against their limits, and the QA release signature.

Deterministic: the same certificate gives the same bytes (reportlab's invariant mode, with the
document date set to the release date).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from fastapi.responses import Response
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle

from opencxo.manufacturing.batch_schemas import CoaRead
from opencxo.web.pdf import FRAME_WIDTH, GREY, a4_pdf

__all__ = ["coa_filename", "coa_pdf", "coa_pdf_response"]

WIDTH = FRAME_WIDTH
LIGHT = colors.HexColor("#e9ecef")
_SHEET = getSampleStyleSheet()
TITLE = ParagraphStyle("CoaTitle", parent=_SHEET["Title"], fontSize=17, spaceAfter=2 * mm)
H2 = ParagraphStyle("CoaH2", parent=_SHEET["Heading2"], fontSize=12, spaceBefore=4 * mm)
BODY = ParagraphStyle("CoaBody", parent=_SHEET["Normal"], fontSize=9, leading=12)
CELL = ParagraphStyle("CoaCell", parent=BODY, fontSize=8.5, leading=10.5)
HEAD = ParagraphStyle("CoaHead", parent=CELL, fontName="Helvetica-Bold")


def _p(text: str, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(escape(text), style)


def coa_filename(coa: CoaRead) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in coa.batch_number)
    return f"CoA-{safe}.pdf"


def _facts(coa: CoaRead) -> Table:
    p = coa.product
    form = ", ".join(x for x in (p.dosage_form, p.strength) if x)
    rows = [
        ("Product", f"{p.name} ({p.code})"),
        ("Kind", p.kind.replace("_", " ") + (f" — {form}" if form else "")),
        ("Batch number", coa.batch_number),
        ("Production order", coa.order_number),
        ("Quantity", f"{coa.quantity.normalize():f} {coa.unit}"),
        ("Manufactured on", coa.manufactured_on.isoformat()),
        ("Expiry date", coa.expiry_date.isoformat() if coa.expiry_date else "—"),
        ("Manufacturer", coa.manufacturer),
        ("Customer (sponsor)", coa.sponsor),
    ]
    table = Table([[_p(k, HEAD), _p(v)] for k, v in rows], colWidths=[45 * mm, WIDTH - 45 * mm])
    table.setStyle(
        TableStyle([("GRID", (0, 0), (-1, -1), 0.25, GREY), ("BACKGROUND", (0, 0), (0, -1), LIGHT)])
    )
    return table


def _tests(coa: CoaRead) -> Table:
    header = [_p(h, HEAD) for h in ("Test", "Method", "Acceptance criterion", "Result", "Conforms")]
    rows = [
        [
            _p(t.test),
            _p(t.method),
            _p(t.acceptance),
            _p(t.result),
            _p("yes" if t.conforms else "NO"),
        ]
        for t in coa.tests
    ]
    table = Table(
        [header, *rows],
        colWidths=[38 * mm, 32 * mm, 46 * mm, 40 * mm, WIDTH - 156 * mm],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle([("GRID", (0, 0), (-1, -1), 0.25, GREY), ("BACKGROUND", (0, 0), (-1, 0), LIGHT)])
    )
    return table


def coa_pdf(coa: CoaRead, *, compress: bool = True) -> bytes:
    """The certificate as PDF bytes (A4)."""
    signed = coa.release.signed_at
    story: list[Flowable] = [
        _p("Certificate of analysis", TITLE),
        _p(f"{coa.product.name} — batch {coa.batch_number}", BODY),
        Spacer(1, 4 * mm),
        _facts(coa),
        _p("Test results", H2),
        _tests(coa),
        _p("Release", H2),
        _p(
            f"Released by {coa.release.signer_name} ({coa.release.signer_email}) on "
            f"{signed:%Y-%m-%d %H:%M} UTC; meaning of the signature: {coa.release.meaning}. "
            f"Signed record SHA-256 {coa.release.record_sha256}.",
            BODY,
        ),
        Spacer(1, 3 * mm),
        _p(
            "This batch was manufactured and tested under GMP; the results above were "
            "reviewed and the batch released by Quality Assurance with an electronic signature.",
            BODY,
        ),
    ]
    return a4_pdf(
        story,
        title=f"Certificate of analysis {coa.batch_number}",
        author=coa.manufacturer,
        subject=coa.product.name,
        footer=f"Certificate of analysis · {coa.batch_number} · {coa.manufacturer}",
        dated=signed,
        compress=compress,
    )


def coa_file(coa: CoaRead) -> tuple[str, bytes]:
    """The certificate as a file: its name and its PDF bytes."""
    return coa_filename(coa), coa_pdf(coa)


def coa_pdf_response(coa: CoaRead) -> Response:
    return Response(
        coa_pdf(coa),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{coa_filename(coa)}"'},
    )
