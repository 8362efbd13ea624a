"""The PDF pieces the app's generated documents share (activation letters, report cards),
drawn with ReportLab on A4: the canvas, the establishment's letterhead, a wrapped paragraph.

Only the constants (pagesizes, units: a few small modules) are imported here: the web pages
import the modules that use these pieces (letters, bulletins) for their other functions, and
ReportLab's canvas costs each web worker ~4 MB; the jobs that draw import it when they do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

WIDTH, HEIGHT = A4
MARGIN = 20 * mm
TEXT_WIDTH = WIDTH - 2 * MARGIN


def canvas(out, title: str) -> Canvas:
    """An A4 canvas writing to `out`, the same bytes for the same content (invariant)."""
    from reportlab.pdfgen.canvas import Canvas  # a job's only (module docstring)

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
    for line in wrapped(text, size, width):
        pdf.drawString(x, y, line)
        y -= leading
    return y


def wrapped(text: str, size: float, width: float, font: str = "Helvetica") -> list[str]:
    """`text`'s lines in `font` at `size` wrapped to `width` (ReportLab's simpleSplit)."""
    from reportlab.lib.utils import simpleSplit  # a job's only (module docstring)

    return simpleSplit(text, font, size, width)
