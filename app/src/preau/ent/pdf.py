"""The PDF pieces the app's generated documents share (activation letters, report cards),
drawn with ReportLab on A4: the canvas, the establishment's letterhead, a wrapped paragraph."""

from __future__ import annotations

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

WIDTH, HEIGHT = A4
MARGIN = 20 * mm
TEXT_WIDTH = WIDTH - 2 * MARGIN


def canvas(out, title: str) -> Canvas:
    """An A4 canvas writing to `out`, the same bytes for the same content (invariant)."""
    pdf = Canvas(out, pagesize=A4, invariant=True)
    pdf.setTitle(title)
    pdf.setAuthor("Préau")
    return pdf


def letterhead(pdf: Canvas, est) -> float:
    """The establishment's name, town and UAI at the top of the page; the y below them."""
    y = HEIGHT - MARGIN
    pdf.setFont("Helvetica-Bold", 13)
    pdf.drawString(MARGIN, y, est.name)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(MARGIN, y - 5 * mm, f"{est.town} – UAI {est.uai}" if est.town else est.uai)
    return y - 22 * mm


def paragraph(
    pdf: Canvas, text: str, x: float, y: float, width: float, size: float = 11, leading=5.5 * mm
) -> float:
    """`text` in Helvetica wrapped to `width` from (x, y) down; the y below its last line."""
    pdf.setFont("Helvetica", size)
    for line in simpleSplit(text, "Helvetica", size, width):
        pdf.drawString(x, y, line)
        y -= leading
    return y
