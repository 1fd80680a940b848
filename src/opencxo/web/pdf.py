"""A4 documents for download (reportlab): the page frame every PDF of the app shares.

Deterministic: reportlab's invariant mode with the document's date set by the caller, so the
same content gives the same bytes (tests compare them).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, SimpleDocTemplate

GREY = colors.HexColor("#6c757d")
#: Width of the text frame between the margins.
FRAME_WIDTH = A4[0] - 36 * mm


def a4_pdf(
    story: Sequence[Flowable],
    *,
    title: str,
    author: str,
    subject: str,
    footer: str,
    dated: datetime,
    compress: bool = True,
) -> bytes:
    """Lay ``story`` out on A4 pages with a grey footer (``footer`` left, page number right).
    ``dated`` (UTC) is the document's creation date; ``compress=False`` leaves the page streams
    readable."""
    stamp = dated.strftime("D:%Y%m%d%H%M%S+00'00'")

    def page(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.setDateFormatter(lambda *_: stamp)
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(GREY)
        canvas.drawString(18 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=title,
        author=author,
        subject=subject,
        creator="OpenCXO",
        invariant=1,
        pageCompression=1 if compress else 0,
    )
    doc.build(list(story), onFirstPage=page, onLaterPages=page)
    return buffer.getvalue()
