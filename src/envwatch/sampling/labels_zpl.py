"""Sample labels as ZPL II for Zebra thermal printers (样品识别标识, WZ-A2-7/8): the PDF's layout, in dots.

Each label is one ``^XA … ^XZ`` format: ``^CI28`` (UTF-8 field data), ``^PW``/``^LL`` (label size),
``^CW`` maps font letter Z to a **printer-resident CJK TrueType font** (default ``E:SIMSUN.TTF``: load it
into the printer's flash with ZebraNet Bridge / Zebra Setup Utilities, or pass another one, e.g.
``cjk_font="E:ANMDS.TTF"`` for Zebra's own Andale Mono Simplified Chinese), ``^BQN,2,m`` a QR code (error
correction M) with the verify URL, and every text as its own ``^FO … ^AZN`` field. Texts are placed with
the same fitting as the PDF, measured as the printer font will print them: full-width Chinese cells
(1 em) and half-width ASCII (0.5 em), as SimSun and ANMDS do.

QR modules are whole dots (``m`` = the PDF module size rounded down), so the printed symbol can be a
little smaller than the PDF's; it stays centred in the same quiet zone. Field data goes through ``^FH``
so ``^``, ``~`` and ``_`` in a value cannot end a field early.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence

from envwatch.core.errors import InvalidInput
from envwatch.sampling.label_layout import LabelData, Metrics, check_label, plan_label
from envwatch.sampling.label_sizes import LABEL_SIZES, label_size
from envwatch.sampling.label_text import ASCENT, PT

DOTS_PER_MM = {203: 8, 300: 12, 600: 24}  # Zebra's nominal resolutions
FONT_LETTER = "Z"
_FONT_NAME = re.compile(r"^[RrEeBbAa]:[A-Za-z0-9_.\-]{1,40}$")


def cell_width(text: str) -> float:
    """Width in em in a CJK printer font: full-width (and ambiguous: — …) 1, the rest half."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WFA" else 0.5 for c in text)


ZPL_METRICS = Metrics(body=cell_width, code=cell_width)


def _field_data(text: str) -> str:
    """Text for ``^FH^FD``: the characters that would end or escape the field as hex (``_5E``)."""
    return "".join(f"_{ord(c):02X}" if c in "^~_" else c for c in text)


def render_zpl(
    labels: Sequence[LabelData],
    size: str,
    *,
    progress: Callable[[int], None] | None = None,
    dpi: int = 203,
    cjk_font: str = "E:SIMSUN.TTF",
) -> str:
    """One ZPL II document, a format per label. ``dpi``: 203, 300 or 600 (the printer's head).

    InvalidInput for an unknown size or ``a4`` (a sheet for office printers, not a ZPL size), no labels,
    a bad label, an unknown dpi or a font name that is not a printer path like ``E:SIMSUN.TTF``.
    """
    stock = label_size(size)
    if stock.is_sheet:
        rolls = ", ".join(name for name, s in LABEL_SIZES.items() if not s.is_sheet)
        raise InvalidInput(
            f"{size!r} is a sheet for office printers, not a ZPL label size: use one of {rolls}"
        )
    if not labels:
        raise InvalidInput("no labels to render: give at least one")
    if dpi not in DOTS_PER_MM:
        raise InvalidInput(
            f"unknown printer resolution {dpi} dpi: use one of {', '.join(map(str, DOTS_PER_MM))}"
        )
    if not _FONT_NAME.match(cjk_font):
        raise InvalidInput(f"printer font {cjk_font!r} is not a printer path like E:SIMSUN.TTF")
    for number, label in enumerate(labels, 1):
        check_label(label, number)
    dots = DOTS_PER_MM[dpi]
    height = stock.height_mm

    def x(mm: float) -> int:
        return round(mm * dots)

    def y(mm_from_bottom: float) -> int:  # ZPL counts from the top
        return round((height - mm_from_bottom) * dots)

    formats = []
    for done, label in enumerate(labels, 1):
        plan = plan_label(label, stock, ZPL_METRICS, best_mask=False)  # the printer encodes the QR itself
        qr = plan.qr
        magnification = max(1, min(10, math.floor(qr.module_mm * dots)))
        inset = (qr.side_mm * dots - magnification * qr.modules) / 2  # centre the whole-dot symbol
        out = [
            "^XA",
            "^CI28",
            f"^PW{x(stock.width_mm)}",
            f"^LL{x(stock.height_mm)}",
            "^LH0,0",
            f"^CW{FONT_LETTER},{cjk_font}",
            f"^FO{round(x(qr.x_mm) + inset)},{round(y(qr.y_mm + qr.side_mm) + inset)}"
            f"^BQN,2,{magnification}^FH^FDMA,{_field_data(label.verify_url)}^FS",
        ]
        rule = plan.rule
        thickness = max(1, x(rule.h_mm))
        out.append(
            f"^FO{x(rule.x_mm)},{y(rule.y_mm + rule.h_mm)}^GB{x(rule.w_mm)},{thickness},{thickness}^FS"
        )
        if plan.reprint_tag is not None:
            tag = plan.reprint_tag
            out.append(
                f"^FO{x(tag.x_mm)},{y(tag.y_mm + tag.h_mm)}^GB{x(tag.w_mm)},{x(tag.h_mm)},{x(tag.h_mm)}^FS"
            )
        for run in plan.runs:
            # rounded down, so that a text planned to fill its width does not pass it by a dot
            em = max(10, math.floor(run.size_pt * PT * dots))  # Zebra's TrueType minimum is 10 dots
            top = y(run.baseline_mm + ASCENT * run.size_pt * PT)
            reverse = "^FR" if run.style == "reprint" else ""
            width = max(10, math.floor(em * run.hscale))
            out.append(
                f"^FO{x(run.x_mm)},{top}^A{FONT_LETTER}N,{em},{width}{reverse}^FH^FD{_field_data(run.text)}^FS"
            )
        out += ["^PQ1", "^XZ"]
        formats.append("\n".join(out))
        if progress is not None:
            progress(done)
    return "\n".join(formats) + "\n"
