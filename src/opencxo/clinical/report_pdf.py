"""The study status report as an A4 PDF (reportlab): a title block, the sections of the report
as tables, and a line chart of enrollment (actual, plan, forecast P10/P50/P90).

Deterministic: the same report gives the same bytes (reportlab's invariant mode, with the
document dates set to the report date).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from fastapi.responses import Response
from reportlab.graphics.charts.legends import LineLegend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.charts.utils import FillPairedData
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from opencxo.clinical.report import report_filename
from opencxo.clinical.report_schemas import StudyReport
from opencxo.clinical.schemas import ForecastScenario
from opencxo.web.pdf import FRAME_WIDTH, GREY, a4_pdf

__all__ = ["report_pdf", "report_pdf_response"]

WIDTH = FRAME_WIDTH
BLUE = colors.HexColor("#0d6efd")
ORANGE = colors.HexColor("#fd7e14")
GREEN = colors.HexColor("#198754")
RED = colors.HexColor("#dc3545")
LIGHT = colors.HexColor("#e9ecef")

_SHEET = getSampleStyleSheet()
TITLE = ParagraphStyle("ReportTitle", parent=_SHEET["Title"], fontSize=18, spaceAfter=2 * mm)
SUBTITLE = ParagraphStyle("ReportSubtitle", parent=_SHEET["Normal"], fontSize=11, leading=14)
H2 = ParagraphStyle("ReportH2", parent=_SHEET["Heading2"], fontSize=13, spaceBefore=4 * mm)
BODY = ParagraphStyle("ReportBody", parent=_SHEET["Normal"], fontSize=9, leading=12)
NOTE = ParagraphStyle("ReportNote", parent=BODY, fontSize=7.5, leading=9.5, textColor=GREY)
CELL = ParagraphStyle("ReportCell", parent=BODY, fontSize=8, leading=10)
HEAD = ParagraphStyle("ReportHead", parent=CELL, fontName="Helvetica-Bold", fontSize=7.5)
RIGHT = ParagraphStyle("ReportRight", parent=CELL, alignment=2)
HEAD_RIGHT = ParagraphStyle("ReportHeadRight", parent=HEAD, alignment=2)
H3 = ParagraphStyle("ReportH3", parent=H2, fontSize=10, spaceBefore=3 * mm)


def _text(value: Any) -> str:
    """A cell in words: nothing as a dash, dates ISO, numbers with thousands separators."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(getattr(value, "value", value))


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f} %"


def _p(text: Any, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float] | None = None,
    *,
    numeric_from: int = 1,
) -> Table:
    """A table with a bold header row; cells from ``numeric_from`` on are right-aligned."""

    def cell(value: Any, column: int, head: bool = False) -> Paragraph:
        text = value if isinstance(value, str) else _text(value)
        if column < numeric_from:
            return _p(text, HEAD if head else CELL)
        return _p(text, HEAD_RIGHT if head else RIGHT)

    data = [[cell(h, i, head=True) for i, h in enumerate(header)]]
    data += [[cell(c, i) for i, c in enumerate(row)] for row in rows]
    table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), LIGHT),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, GREY),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, LIGHT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
    ]
    table.setStyle(TableStyle(style))
    return table


def _facts(pairs: Sequence[tuple[str, Any]], label_width: float = 45 * mm) -> Table:
    data = [
        [_p(label, HEAD), _p(value if isinstance(value, str) else _text(value))]
        for label, value in pairs
    ]
    table = Table(data, colWidths=[label_width, WIDTH - label_width], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, LIGHT),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


# --- the chart ----------------------------------------------------------------------------------


def _months(first: date, last: date) -> list[float]:
    """Month starts between two dates, every 1, 2, 3, 6 or 12 months (or a multiple of 12 over
    long spans): at most 8 ticks. Walks month indices, never past the calendar's last date, so
    any stored dates (even 0001-01-01 to 9999-12-31) give their ticks."""
    start = first.year * 12 + first.month - 1
    end = last.year * 12 + last.month - 1
    span = end - start + 1
    if span <= 0:
        return []
    step = next((s for s in (1, 2, 3, 6, 12) if span / s <= 8), 0) or 12 * math.ceil(span / 96)
    ticks = []
    index = -(-start // step) * step  # the first multiple of step on or after first's month
    while index <= end:
        tick = date(index // 12, index % 12 + 1, 1)
        if tick >= first:
            ticks.append(float(tick.toordinal()))
        index += step
    return ticks


def _date_label(value: float) -> str:
    return date.fromordinal(round(value)).strftime("%b %Y")


def _chart(report: StudyReport) -> Drawing:
    """Cumulative enrollment: actual (a step line), the straight-line plan, the forecast's P10–P90
    band and P50 (with the disruptions), the P50 without them, and the target."""
    h, e, f = report.header, report.enrollment, report.forecast
    series: list[tuple[list[tuple[float, float]], Any, float, Any, str]] = []

    def day(d: date) -> float:
        return float(d.toordinal())

    actual: list[tuple[float, float]] = []
    running = 0
    for point in e.cumulative:
        if actual:
            actual.append((day(point.on_date), running))
        else:
            actual.append((day(point.on_date), 0))
        running = point.cumulative
        actual.append((day(point.on_date), running))
    if actual:
        actual.append((day(e.as_of), running))
    first, last = h.planned_first_patient_in, h.planned_last_patient_in
    plan = [(day(first), 0.0), (day(last), float(h.target_enrollment))] if first and last else []
    scenario: ForecastScenario | None = None
    if f is not None:
        scenario = f.with_disruptions or f.without_disruptions
    band = scenario.cumulative if scenario else []
    xs = [x for x, _ in actual + plan] + [day(b.on_date) for b in band] + [day(e.as_of)]
    if f is not None and f.deadline:
        xs.append(day(f.deadline))
    x0, x1 = min(xs), max(xs)
    if x1 - x0 < 30:
        x1 = x0 + 30
    target = [(x0, float(h.target_enrollment)), (x1, float(h.target_enrollment))]

    if band:
        p10 = [(day(b.on_date), float(b.p10)) for b in band]
        p90 = [(day(b.on_date), float(b.p90)) for b in band]
        series.append((p10, ORANGE, 0.4, None, "Forecast P10–P90 band"))
        series.append((FillPairedData(p90, len(series) - 1), ORANGE, 0.4, None, ""))
        label = "with disruptions" if f and f.disruptions else ""
        p50 = [(day(b.on_date), float(b.p50)) for b in band]
        series.append((p50, ORANGE, 1.5, None, f"Forecast P50 {label}".strip()))
        if f is not None and f.disruptions:
            plain = [(day(b.on_date), float(b.p50)) for b in f.without_disruptions.cumulative]
            series.append((plain, GREEN, 1.2, (4, 2), "Forecast P50 without disruptions"))
    if plan:
        series.append((plan, GREY, 1.0, (3, 3), "Plan (straight line FPI to LPI)"))
    series.append((target, RED, 0.8, None, f"Target ({h.target_enrollment:,} patients)"))
    if actual:
        series.append((actual, BLUE, 2.0, None, "Enrolled (actual, cumulative)"))

    drawing = Drawing(WIDTH, 88 * mm)
    plot = LinePlot()
    plot.x, plot.y = 14 * mm, 23 * mm
    plot.width, plot.height = WIDTH - 18 * mm, 58 * mm
    plot.data = [s[0] for s in series]
    for i, (_, color, width, dash, _name) in enumerate(series):
        plot.lines[i].strokeColor = color
        plot.lines[i].strokeWidth = width
        plot.lines[i].lineStyle = "joinedLine"
        if dash:
            plot.lines[i].strokeDashArray = dash
        if isinstance(series[i][0], FillPairedData):
            plot.lines[i].fillColor = colors.Color(0.99, 0.49, 0.08, alpha=0.2)
    top = max([float(h.target_enrollment)] + [y for s in series for _, y in s[0]])
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = x0, x1
    plot.xValueAxis.valueSteps = _months(date.fromordinal(int(x0)), date.fromordinal(int(x1)))
    plot.xValueAxis.labelTextFormat = _date_label
    plot.xValueAxis.labels.fontSize = 7
    plot.yValueAxis.valueMin = 0
    plot.yValueAxis.valueMax = top * 1.08
    plot.yValueAxis.labels.fontSize = 7
    plot.yValueAxis.labelTextFormat = "%.0f"
    drawing.add(plot)
    drawing.add(
        String(
            plot.x - 12 * mm,
            plot.y + plot.height + 3 * mm,
            "Patients enrolled (cumulative)",
            fontSize=7,
            fillColor=GREY,
        )
    )
    legend = LineLegend()
    legend.alignment = "right"  # the swatch, then its name
    legend.x, legend.y = plot.x, 13 * mm
    legend.fontSize = 7
    legend.columnMaximum = 3
    legend.dx, legend.dy, legend.dxTextSpace = 16, 2, 4
    legend.deltax, legend.deltay = 55 * mm, 10
    legend.colorNamePairs = [(color, name) for _, color, _, _, name in series if name]
    drawing.add(legend)
    return drawing


# --- the sections -------------------------------------------------------------------------------


def _title(report: StudyReport) -> list[Flowable]:
    h = report.header
    planned = f"{_text(h.planned_first_patient_in)} to {_text(h.planned_last_patient_in)}"
    return [
        Paragraph("Study status report", TITLE),
        _p(f"{h.code}: {h.title}", SUBTITLE),
        _p(f"Report date {h.report_date.isoformat()}", SUBTITLE),
        Spacer(1, 3 * mm),
        _facts(
            [
                ("Study", h.code),
                ("Sponsor", h.sponsor_name),
                ("CRO", h.provider_name or "none"),
                ("Program", h.program_name),
                ("Work order", h.work_order_number or "—"),
                ("Phase", h.phase.value.replace("_", " ").capitalize()),
                ("Indication", h.indication or "—"),
                ("Target", f"{h.target_enrollment:,} patients"),
                ("Planned FPI to LPI", planned),
                ("Status", h.status.value.replace("_", " ").capitalize()),
                ("Report date", h.report_date.isoformat()),
            ]
        ),
    ]


def _enrollment(report: StudyReport) -> list[Flowable]:
    e = report.enrollment
    if e.plan is None:
        against = "no plan (the study has no planned first and last patient in)"
    else:
        behind = "ahead of" if (e.difference or 0) >= 0 else "behind"
        against = (
            f"plan {e.plan:,.1f} ({e.percent_of_plan} % of plan, "
            f"{abs(e.difference or 0):,.1f} patients {behind} the plan)"
        )
    out: list[Flowable] = [
        Paragraph("1. Enrollment against plan", H2),
        _p(
            f"As of {e.as_of.isoformat()}: {e.enrolled:,} of {e.target:,} patients enrolled "
            f"({e.percent_of_target} % of target); {against}. {e.screened:,} screened, "
            f"{e.screen_failed:,} screen failures, {e.withdrawn:,} withdrawn. First patient in "
            f"{_text(e.first_patient_in)}, last report {_text(e.last_record_on)}.",
            BODY,
        ),
        Spacer(1, 2 * mm),
        _chart(report),
        _p(
            "The plan is a straight line from 0 at the planned first patient in to the target "
            "at the planned last patient in; the forecast band is P10 to P90"
            + (
                " with the disruptions." if report.forecast and report.forecast.disruptions else "."
            ),
            NOTE,
        ),
        CondPageBreak(40 * mm),
        Paragraph("Enrollment by month", H3),
    ]
    if e.by_month:
        out.append(
            _table(
                ("Month", "Enrolled", "Cumulative", "Plan", "Difference"),
                [(m.month, m.enrolled, m.cumulative, m.plan, m.difference) for m in e.by_month],
                [30 * mm, 30 * mm, 30 * mm, 30 * mm, 30 * mm],
            )
        )
    else:
        out.append(_p("No enrollment yet.", BODY))
    return out


def _scenario_row(name: str, s: ForecastScenario) -> list[Any]:
    return [
        name,
        s.completion_date_p10,
        s.completion_date_p50 or "after the horizon",
        s.completion_date_p90 or "beyond 5 years",
        s.completion_date_mean,
        _percent(s.probability_by_deadline),
        _percent(s.fraction_not_reached),
    ]


def _forecast(report: StudyReport) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("2. Enrollment forecast", H2)]
    f = report.forecast
    if f is None:
        out.append(_p(f"No forecast: {report.forecast_problem}", BODY))
        return out
    deadline = f.deadline.isoformat() if f.deadline else "no deadline"
    rows = [_scenario_row("Without disruptions", f.without_disruptions)]
    if f.disruptions and f.with_disruptions is not None:
        rows.insert(0, _scenario_row("With disruptions", f.with_disruptions))
    else:
        rows[0][0] = "No disruption declared"
    out += [
        _p(
            f"When the target of {f.target:,} patients is reached (completion date quantiles) "
            f"and the probability of reaching it by {deadline}.",
            BODY,
        ),
        Spacer(1, 1.5 * mm),
        _table(
            ("Scenario", "P10", "P50", "P90", "Mean", f"P(target by {deadline})", "Not reached"),
            rows,
            [34 * mm, 21 * mm, 23 * mm, 23 * mm, 21 * mm, 28 * mm, 24 * mm],
        ),
        Paragraph("Assumptions", H3),
        _facts([(a.label, a.value) for a in report.assumptions]),
    ]
    return out


def _sites(report: StudyReport) -> list[Flowable]:
    s = report.sites
    out: list[Flowable] = [Paragraph(f"3. Sites ({s.total})", H2)]
    if not s.total and not s.by_country:
        out.append(_p("No sites yet.", BODY))
        return out
    out += [
        _table(
            ("Status", "Sites", "Screened", "Enrolled"),
            [
                (r.status.value.replace("_", " "), r.sites, r.screened, r.enrolled)
                for r in s.by_status
            ],
            [40 * mm, 25 * mm, 25 * mm, 25 * mm],
        ),
        Spacer(1, 3 * mm),
        _table(
            (
                "Country",
                "Planned sites",
                "Sites",
                "Open",
                "Planned",
                "Activating",
                "On hold",
                "Closed",
                "Planned patients",
                "Screened",
                "Enrolled",
            ),
            [
                (
                    f"{c.country_name} ({c.country})",
                    c.planned_sites,
                    c.sites,
                    c.active,
                    c.planned,
                    c.activating,
                    c.on_hold,
                    c.closed,
                    c.planned_patients,
                    c.screened,
                    c.enrolled,
                )
                for c in s.by_country
            ],
            [26 * mm] + [14.8 * mm] * 10,
        ),
    ]
    if s.sites:
        out += [
            Spacer(1, 3 * mm),
            _table(
                ("Site", "Name", "Country", "Status", "Activated", "Screened", "Enrolled"),
                [
                    (
                        r.code,
                        r.name,
                        r.country,
                        r.status.value.replace("_", " "),
                        r.actual_activation_date or f"planned {_text(r.planned_activation_date)}",
                        r.screened,
                        r.enrolled,
                    )
                    for r in s.sites
                ],
                [20 * mm, 46 * mm, 17 * mm, 20 * mm, 32 * mm, 19 * mm, 19 * mm],
                numeric_from=5,
            ),
        ]
    return out


def _disruptions(report: StudyReport) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("4. Disruptions", H2)]
    if not report.disruptions:
        out.append(_p("No disruption declared in the study's countries.", BODY))
        return out
    out.append(
        _table(
            ("Disruption", "Cause", "Place", "From", "To", "Enrollment ×", "Activations"),
            [
                (
                    d.title,
                    d.cause.replace("_", " "),
                    d.place,
                    d.starts_on,
                    d.ends_on or "still open",
                    f"{d.enrollment_multiplier:g}",
                    "frozen" if d.freeze_activations else "continue",
                )
                for d in report.disruptions
            ],
            [45 * mm, 20 * mm, 22 * mm, 20 * mm, 20 * mm, 22 * mm, 25 * mm],
            numeric_from=7,
        )
    )
    return out


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _recovery(report: StudyReport) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("5. Recovery plan", H2)]
    r = report.recovery
    if r is None:
        out.append(_p("No recovery plan proposed.", BODY))
        return out
    decided = (
        f"{r.status.value} by {r.decided_by_name or 'the sponsor'} on {_text(r.decided_at)}"
        if r.decided_at
        else r.status.value
    )
    before, after = r.completion_before, r.completion_after
    out += [
        _facts(
            [
                ("Status", decided),
                ("Outcome", r.outcome.value.replace("_", " ")),
                ("Proposed by", f"{r.proposed_by} on {_text(r.proposed_at)}"),
                ("As of / deadline", f"{r.as_of.isoformat()} / {r.deadline.isoformat()}"),
                ("Confidence asked", _percent(r.confidence)),
                ("Sites added", r.sites_added),
                ("Added cost", _money(r.added_cost, r.currency)),
                ("Savings (closures)", _money(r.savings, r.currency)),
                ("Net cost", _money(r.net_cost, r.currency)),
            ]
        ),
    ]
    if r.message:
        out += [Spacer(1, 1.5 * mm), _p(r.message, BODY)]
    out += [
        Spacer(1, 2 * mm),
        _table(
            ("", f"P(target by {r.deadline.isoformat()})", "Completion P10", "P50", "P90"),
            [
                (
                    "Before the plan",
                    _percent(r.probability_before),
                    before.p10,
                    before.p50,
                    before.p90,
                ),
                ("With the plan", _percent(r.probability_after), after.p10, after.p50, after.p90),
            ],
            [40 * mm, 36 * mm, 30 * mm, 30 * mm, 30 * mm],
        ),
        Paragraph("Sites to add", H3),
    ]
    if r.added:
        out.append(
            _table(
                ("Offer", "Provider", "Country", "Sites", "Expected patients", "Cost"),
                [
                    (
                        a.offer_name,
                        a.provider_name,
                        f"{a.country}{', ' + a.city if a.city else ''}",
                        a.sites,
                        f"{a.expected_patients_by_deadline:,.1f}",
                        _money(a.cost, r.currency),
                    )
                    for a in r.added
                ],
                [38 * mm, 38 * mm, 26 * mm, 14 * mm, 24 * mm, 34 * mm],
                numeric_from=3,
            )
        )
    else:
        out.append(_p("None.", BODY))
    out.append(Paragraph("Sites to close", H3))
    if r.closed:
        out.append(
            _table(
                ("Site", "Name", "Country", "Expected patients lost", "Saving"),
                [
                    (
                        c.code,
                        c.name,
                        c.country,
                        f"{c.expected_patients_lost:,.1f}",
                        _money(c.saving, r.currency),
                    )
                    for c in r.closed
                ],
                [24 * mm, 56 * mm, 20 * mm, 34 * mm, 34 * mm],
                numeric_from=3,
            )
        )
    else:
        out.append(_p("None.", BODY))
    return out


def report_pdf(report: StudyReport, *, compress: bool = True) -> bytes:
    """The report as PDF bytes (A4). ``compress=False`` leaves the page streams readable."""
    h = report.header
    story: list[Flowable] = [
        *_title(report),
        *_enrollment(report),
        CondPageBreak(90 * mm),
        *_forecast(report),
        CondPageBreak(70 * mm),
        *_sites(report),
        CondPageBreak(50 * mm),
        KeepTogether(_disruptions(report)),
        CondPageBreak(70 * mm),
        *_recovery(report),
    ]
    return a4_pdf(
        story,
        title=f"{h.code} study status report {h.report_date.isoformat()}",
        author=h.provider_name or h.sponsor_name,
        subject=h.title,
        footer=f"{h.code} · study status report · {h.report_date.isoformat()}",
        dated=datetime.combine(h.report_date, time(0, 0), tzinfo=UTC),
        compress=compress,
    )


def report_pdf_response(report: StudyReport) -> Response:
    """The PDF as a download named like ``NWT-204-201-status-2026-12-04.pdf``."""
    return Response(
        report_pdf(report),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{report_filename(report)}"'},
    )
