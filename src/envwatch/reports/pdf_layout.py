"""The page layout the platform's PDF reports share (报告版式): A4, the CJK font, the paragraph styles, how a
value is shown, tables with a repeated header row and the "第 n 页 / 共 N 页" footer.

The quarterly self-inspection report (SX-18.7, ``self_inspection_pdf``) and the periodic reports
(``periodic_pdf``) are laid out alike on purpose: a bureau reading both sees one house style. One module
keeps them alike; each report adds its own styles and parts on top.

ReportLab platypus with the built-in CJK font ``STSong-Light``: a CID font every PDF reader has, so no font
file ships or embeds. Nothing here reads a clock, so the same story gives the same bytes (with the
documents' ``invariant=1``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle

from envwatch.core.clock import to_china

FONT: Final = "STSong-Light"
MARGIN: Final = 15 * mm
WIDTH: Final = A4[0] - 2 * MARGIN  # the frame's width: tables are sized to it
HEAD_COLOR: Final = colors.HexColor("#35506b")  # table header rows (and the periodic report's bars)


def font() -> str:
    """The CJK font's name, registered with ReportLab on first use."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def base_styles() -> dict[str, ParagraphStyle]:
    """The styles every report uses: title, subtitle, h2, body, and a table's cell and header row.

    New objects on each call, so a report may adjust or add to them without touching another's."""
    base = ParagraphStyle("body", fontName=font(), fontSize=9.5, leading=14, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=26, alignment=1),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=11, leading=16, alignment=1),
        # a heading stays with what follows (no heading alone at a page's foot)
        "h2": ParagraphStyle(
            "h2", parent=base, fontSize=13, leading=18, spaceBefore=10, spaceAfter=4, keepWithNext=1
        ),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=10),
        "head": ParagraphStyle("head", parent=base, fontSize=7.5, leading=10, textColor=colors.white),
    }


def fmt(value: Any, booleans: Mapping[bool, str] | None = None) -> str:
    """A value as shown: China time to the minute, exact decimals, "—" for nothing; a yes/no through
    ``booleans`` where the report gives words for it (else as Python writes it)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return f"{to_china(value):%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if booleans is not None and isinstance(value, bool):
        return booleans[value]
    return str(value)


class PdfWriter:
    """Builds a report's story: paragraphs and tables in the shared styles.

    A report sets ``para_style`` (the style of a plain ``para``), ``booleans`` (words for yes/no in table
    cells) and ``cell_padding`` (left and right padding of table cells; None keeps ReportLab's)."""

    para_style: str = "body"
    booleans: Mapping[bool, str] | None = None
    cell_padding: float | None = None

    def __init__(self) -> None:
        self.styles = base_styles()
        self.story: list[Flowable] = []

    def para(self, text: str, style: str | None = None) -> None:
        self.story.append(Paragraph(escape(text), self.styles[style or self.para_style]))

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        widths: Sequence[float],
        empty: str = "无",
    ) -> None:
        """A table across the frame (``widths`` are relative), its header row repeated on every page it
        spans; ``empty`` as a paragraph instead when there are no rows."""
        if not rows:
            self.para(empty, "body")
            return
        scale = WIDTH / sum(widths)
        cell, head = self.styles["cell"], self.styles["head"]
        body = [[Paragraph(escape(c), head) for c in columns]]
        body += [[Paragraph(escape(fmt(v, self.booleans)), cell) for v in row] for row in rows]
        table = Table(body, colWidths=[w * scale for w in widths], repeatRows=1, splitByRow=1)
        commands: list[tuple[Any, ...]] = [
            ("BACKGROUND", (0, 0), (-1, 0), HEAD_COLOR),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#8a9aa9")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f1f4f7")]),
        ]
        if self.cell_padding is not None:
            commands += [
                ("LEFTPADDING", (0, 0), (-1, -1), self.cell_padding),
                ("RIGHTPADDING", (0, 0), (-1, -1), self.cell_padding),
            ]
        table.setStyle(TableStyle(commands))
        self.story.append(table)
        self.story.append(Spacer(1, 4))


def numbered_canvas(footer: str) -> type[Canvas]:
    """A canvas that numbers its pages "第 n 页 / 共 N 页" once it knows N (pages are kept until save), with
    ``footer`` (the report's name) at the left of every page's foot."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()  # type: ignore[attr-defined]  # reportlab's own page reset

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(FONT, 8)
                self.setFillColor(colors.HexColor("#555555"))
                self.drawString(MARGIN, MARGIN / 2, footer)
                self.drawRightString(
                    A4[0] - MARGIN, MARGIN / 2, f"第 {self.getPageNumber()} 页 / 共 {total} 页"
                )
                super().showPage()
            super().save()

    return NumberedCanvas
