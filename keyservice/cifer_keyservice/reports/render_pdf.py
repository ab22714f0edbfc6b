# ruff: noqa: E402 - reportlab is imported after the check that names its extra
"""Seed 001's security report (`POST /api/security/reports/generate`, `format: "pdf"`) as a PDF
document, laid out with reportlab's platypus and drawn with its charts: no external program.

The document, in order:
1. a title page: "CIFER security report", the report type in words, the period, when the report
   was generated and when it expires, its id, and its scope;
2. the summary: executiveSummary and keyMetrics as label/value rows, then the compliance status;
3. the usage of each key in scope over the period: a small line chart per key, titled with its
   keyId and userId, three to a row, in the order given;
4. the audit findings, the security incidents and the recommendations as tables; an empty list
   is a line saying there are none.

Every figure is printed by render_csv.figure, so a row reads the same in text extracted from the
PDF as in the CSV ("Encryption operations 1234"). Text from the data (user ids, descriptions)
is escaped before it goes into Paragraph markup. The document is invariant (no creation time,
no random file id): the same report renders to the same bytes.

The charts are the cost. A LinePlot draws a series as one polyline with a few axis labels; a bar
or category chart draws a shape per bucket and a label per category, about ten times slower at
90 buckets. Measured on 2 cores: 1,000 keys of 90 buckets render in 4.1 to 4.5 s, on 70 pages.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from xml.sax.saxutils import escape

from cifer.extras import require
from cifer_keyservice.reports.render_csv import figure

require("reportlab", extra="reports", feature="PDF security reports")

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

TITLE = "CIFER security report"
AUTHOR = "CIFER"
REPORT_TYPES_IN_WORDS = {
    "encryption_summary": "Encryption summary",
    "key_lifecycle": "Key lifecycle",
    "compliance_status": "Compliance status",
    "security_incidents": "Security incidents",
}
SCOPE_LABELS = (("userIds", "Users"), ("keyIds", "Keys"), ("dataTypes", "Data types"), ("regulations", "Regulations"))
EXECUTIVE_SUMMARY_LABELS = (
    ("totalKeys", "Total keys"),
    ("activeKeys", "Active keys"),
    ("expiredKeys", "Expired keys"),
    ("revokedKeys", "Revoked keys"),
    ("encryptionOperations", "Encryption operations"),
    ("decryptionOperations", "Decryption operations"),
    ("securityIncidents", "Security incidents"),
    ("complianceScore", "Compliance score (0-100)"),
)
KEY_METRIC_LABELS = (
    ("keyRotationCompliance", "Key rotation compliance (%)"),
    ("averageKeyAge", "Average key age (days)"),
    ("encryptionCoverage", "Encryption coverage (%)"),
)
PERFORMANCE_LABELS = (
    ("averageEncryptionTime", "Average encryption time (ms)"),
    ("averageDecryptionTime", "Average decryption time (ms)"),
    ("throughput", "Throughput (operations/s)"),
)

MARGIN_PT = 15 * mm
FRAME_WIDTH_PT = A4[0] - 2 * MARGIN_PT
CHARTS_PER_ROW = 3
CHART_WIDTH_PT = FRAME_WIDTH_PT / CHARTS_PER_ROW
CHART_HEIGHT_PT = 120
CHART_TITLE_FONT = "Helvetica-Bold"
TEXT_FONT = "Helvetica"
CHART_TITLE_SIZE_PT = 7
CHART_AXIS_SIZE_PT = 5
LINE_COLOUR = colors.HexColor("#1f5fa8")
HEADER_COLOUR = colors.HexColor("#dde6f0")
GRID_COLOUR = colors.HexColor("#9aa5b1")

STYLES = getSampleStyleSheet()
CELL = ParagraphStyle("cell", parent=STYLES["BodyText"], fontSize=8, leading=10)
CELL_HEADER = ParagraphStyle("cellHeader", parent=CELL, fontName="Helvetica-Bold")


def text(value: object) -> str:
    """Data as Paragraph markup: escaped, since user ids and descriptions come from users."""
    return escape(str(value))


def paragraph(markup: str, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(markup, style)


def table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]], widths: tuple[float, ...]) -> Table:
    """A table of markup cells under a header row that repeats on each page; widths are fractions.
    A row may split across pages: a long description is taller than a page."""
    cells = [[paragraph(title, CELL_HEADER) for title in header]]
    cells += [[paragraph(markup) for markup in row] for row in rows]
    return Table(cells, colWidths=[FRAME_WIDTH_PT * width for width in widths], repeatRows=1, splitInRow=1,
                 hAlign="LEFT",
                 style=TableStyle([("GRID", (0, 0), (-1, -1), 0.4, GRID_COLOUR),
                                   ("BACKGROUND", (0, 0), (-1, 0), HEADER_COLOUR),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))


def figures_table(rows: Iterable[tuple[str, str]]) -> Table:
    """Label and value rows, each value as `figure` printed it."""
    return table(("Figure", "Value"), ((text(label), text(value)) for label, value in rows), (0.55, 0.25))


def title_page(report: dict) -> list[Flowable]:
    period = report["period"]
    scope = report.get("scope") or {}
    lines = [
        ("Period", f"{period['start']} to {period['end']}"),
        ("Generated at", report["generatedAt"]),
        ("Expires", report["expiryDate"]),
        ("Report id", report["reportId"]),
    ]
    lines += [(label, ", ".join(scope[field]) if scope.get(field) else "all") for field, label in SCOPE_LABELS]
    return [
        Spacer(1, 60 * mm),
        paragraph(TITLE, STYLES["Title"]),
        paragraph(text(REPORT_TYPES_IN_WORDS[report["reportType"]]), STYLES["Heading2"]),
        Spacer(1, 10 * mm),
        *(paragraph(f"<b>{label}:</b> {text(value)}", STYLES["BodyText"]) for label, value in lines),
        PageBreak(),
    ]


def summary(report: dict) -> list[Flowable]:
    executive, metrics = report["executiveSummary"], report["keyMetrics"]
    compliance = report["complianceStatus"]
    figures = [(label, figure(executive[field])) for field, label in EXECUTIVE_SUMMARY_LABELS]
    figures += [(label, figure(metrics[field])) for field, label in KEY_METRIC_LABELS]
    figures += [(label, figure(metrics["performanceMetrics"][field])) for field, label in PERFORMANCE_LABELS]
    statuses = [("FIPS compliance", figure(compliance["fipsCompliance"])),
                ("NIST compliance", figure(compliance["nistCompliance"]))]
    statuses += [(name, figure(met)) for name, met in compliance["regulatoryCompliance"].items()]
    return [
        paragraph("Summary", STYLES["Heading1"]),
        figures_table(figures),
        paragraph("Compliance", STYLES["Heading2"]),
        figures_table(statuses),
    ]


def fitted(line: str, font: str, width_pt: float) -> str:
    """`line` cut with an ellipsis to fit `width_pt`: a chart's title must not run into its neighbour."""
    if stringWidth(line, font, CHART_TITLE_SIZE_PT) <= width_pt:
        return line
    while line and stringWidth(line + "…", font, CHART_TITLE_SIZE_PT) > width_pt:
        line = line[:-1]
    return line + "…"


def usage_plot(buckets: list[tuple[str, int]]) -> LinePlot:
    """One series as a line over the buckets, labelled at the first, middle and last bucket."""
    labels = [label for label, _ in buckets]
    last = len(buckets) - 1
    plot = LinePlot()
    plot.x, plot.y = 26, 14
    plot.width, plot.height = CHART_WIDTH_PT - 40, CHART_HEIGHT_PT - 40
    plot.data = [[(index, count) for index, (_, count) in enumerate(buckets)]]
    plot.lines[0].strokeColor = LINE_COLOUR
    plot.lines[0].strokeWidth = 0.8
    if last == 0:  # a single point draws no line
        plot.lines[0].symbol = makeMarker("FilledCircle", size=3)
    x_axis = plot.xValueAxis
    x_axis.valueMin, x_axis.valueMax = 0, max(last, 1)
    x_axis.valueSteps = sorted({0, last // 2, last})
    x_axis.labelTextFormat = lambda index: labels[int(index)]
    x_axis.labels.fontSize = CHART_AXIS_SIZE_PT
    y_axis = plot.yValueAxis
    y_axis.valueMin = 0
    if not any(count for _, count in buckets):
        y_axis.valueMax = 1  # a flat zero line still needs a range
    y_axis.maximumTicks = 4
    y_axis.labels.fontSize = CHART_AXIS_SIZE_PT
    return plot


def usage_chart(key: dict, buckets: list[tuple[str, int]]) -> Drawing:
    """A key's chart: its keyId and userId above the line of its operations per bucket."""
    drawing = Drawing(CHART_WIDTH_PT, CHART_HEIGHT_PT)
    width_pt = CHART_WIDTH_PT - 8
    drawing.add(String(4, CHART_HEIGHT_PT - 10, fitted(key["keyId"], CHART_TITLE_FONT, width_pt),
                       fontName=CHART_TITLE_FONT, fontSize=CHART_TITLE_SIZE_PT))
    user = f"user {key['userId']}" if key["userId"] is not None else "no user"
    drawing.add(String(4, CHART_HEIGHT_PT - 19, fitted(user, TEXT_FONT, width_pt),
                       fontName=TEXT_FONT, fontSize=CHART_TITLE_SIZE_PT))
    if buckets:
        drawing.add(usage_plot(buckets))
    else:
        drawing.add(String(CHART_WIDTH_PT / 2, CHART_HEIGHT_PT / 2, "no operations in the period",
                           fontName=TEXT_FONT, fontSize=CHART_TITLE_SIZE_PT, textAnchor="middle"))
    return drawing


def usage(keys: list[dict], series: dict[str, list[tuple[str, int]]]) -> list[Flowable]:
    """The keys' charts, a row of them per one-row table so that a page breaks between rows cheaply."""
    flowables: list[Flowable] = [PageBreak(), paragraph("Key usage (operations per period bucket)", STYLES["Heading1"])]
    if not keys:
        return [*flowables, paragraph("No keys in scope.", STYLES["BodyText"])]
    charts = [usage_chart(key, series.get(key["keyId"], [])) for key in keys]
    for start in range(0, len(charts), CHARTS_PER_ROW):
        row = charts[start:start + CHARTS_PER_ROW]
        flowables.append(Table([row], colWidths=[CHART_WIDTH_PT] * len(row), hAlign="LEFT",
                               style=TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0),
                                                 ("RIGHTPADDING", (0, 0), (-1, -1), 0)])))
    return flowables


def listing(title: str, none: str, header: tuple[str, ...], rows: list[tuple[str, ...]],
            widths: tuple[float, ...]) -> list[Flowable]:
    body = table(header, rows, widths) if rows else paragraph(none, STYLES["BodyText"])
    return [paragraph(title, STYLES["Heading1"]), body]


def joined(items: list[str]) -> str:
    return "; ".join(text(item) for item in items)


def audit_finding_row(finding: dict) -> tuple[str, ...]:
    details = [text(finding["description"])]
    if finding.get("regulation"):
        details.append(f"<i>Regulation:</i> {text(finding['regulation'])}")
    if finding["remediation"]:
        details.append(f"<i>Remediation:</i> {joined(finding['remediation'])}")
    return (text(finding["id"]), text(finding["severity"]), text(finding["category"]), "<br/>".join(details),
            text(finding.get("deadline") or ""))


def incident_row(incident: dict) -> tuple[str, ...]:
    details = [text(incident["description"])]
    if incident.get("resolution"):
        resolved = f" ({text(incident['resolutionDate'])})" if incident.get("resolutionDate") else ""
        details.append(f"<i>Resolution{resolved}:</i> {text(incident['resolution'])}")
    return (text(incident["id"]), text(incident["timestamp"]), text(incident["type"]), text(incident["severity"]),
            text(incident["status"]), "<br/>".join(details), joined(incident["affectedKeys"]),
            figure(incident["affectedUsers"]))


def recommendation_row(recommendation: dict) -> tuple[str, ...]:
    details = [text(recommendation["description"])]
    if recommendation["implementation"]:
        details.append(f"<i>Implementation:</i> {joined(recommendation['implementation'])}")
    details.append(f"<i>Effort:</i> {text(recommendation['estimatedEffort'])}")
    return (text(recommendation["id"]), text(recommendation["priority"]), text(recommendation["category"]),
            text(recommendation["title"]), "<br/>".join(details))


def findings(report: dict) -> list[Flowable]:
    return [
        PageBreak(),
        *listing("Audit findings", "No audit findings.",
                 ("Id", "Severity", "Category", "Description", "Deadline"),
                 [audit_finding_row(finding) for finding in report["complianceStatus"]["auditFindings"]],
                 (0.14, 0.1, 0.15, 0.43, 0.18)),
        *listing("Security incidents", "No security incidents.",
                 ("Id", "Time", "Type", "Severity", "Status", "Description", "Affected keys", "Users"),
                 [incident_row(incident) for incident in report["securityIncidents"]],
                 (0.1, 0.13, 0.13, 0.09, 0.1, 0.24, 0.14, 0.07)),
        *listing("Recommendations", "No recommendations.",
                 ("Id", "Priority", "Category", "Title", "Description"),
                 [recommendation_row(recommendation) for recommendation in report["recommendations"]],
                 (0.12, 0.09, 0.14, 0.2, 0.45)),
    ]


def render_pdf(report: dict, keys: list[dict], series: dict[str, list[tuple[str, int]]]) -> bytes:
    """The report as PDF bytes; `series` maps a keyId to its (bucket label, operations) in time
    order, and a key it lacks has no operations to chart."""
    def footer(canvas: Canvas, document: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(TEXT_FONT, 7)
        canvas.drawString(MARGIN_PT, MARGIN_PT / 2, f"{TITLE} {report['reportId']}, page {document.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN_PT, rightMargin=MARGIN_PT, topMargin=MARGIN_PT,
        bottomMargin=MARGIN_PT, title=f"{TITLE}: {REPORT_TYPES_IN_WORDS[report['reportType']]}", author=AUTHOR,
        creator=AUTHOR, invariant=1)
    story = [*title_page(report), *summary(report), *usage(keys, series), *findings(report)]
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
