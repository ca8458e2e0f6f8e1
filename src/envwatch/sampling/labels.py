"""Sample label PDFs (样品识别标识, WZ-A2-7/8): a QR code with the verification URL, the sample code in full
and the on-site fields, for thermal label rolls (one label per page) or A4 label sheets.

The Chinese text is drawn with a TrueType font embedded in the PDF (WenQuanYi Zen Hei unless
``ENVWATCH_SAMPLING_LABEL_FONT`` says otherwise; ReportLab embeds only the glyphs used), so any reader or
printer driver shows it; the code uses the font's monospace face when the file has one (wqy-zenhei.ttc
does). A character the font lacks prints as "□" and is logged rather than printed as an invisible
.notdef box.

Deterministic: ``invariant=1`` and the layout is a pure function of the labels, so the same labels give
the same bytes. Layout: ``label_layout``; sizes: ``label_sizes``; ZPL for Zebra printers: ``labels_zpl``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas

from envwatch.core.errors import InvalidInput
from envwatch.sampling.label_layout import LabelData, LabelPlan, Metrics, QrPlacement, check_label, plan_label
from envwatch.sampling.label_sizes import LABEL_SIZES, LabelSize, label_size
from envwatch.sampling.label_text import Measure
from envwatch.sampling.labels_zpl import render_zpl

__all__ = [
    "LABEL_SIZES",
    "LabelData",
    "LabelPlan",
    "LabelSize",
    "layout",
    "render_pdf",
    "render_zpl",
    "resolve_font",
]

log = logging.getLogger(__name__)

DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
# a font without these cannot print a label at all (field names, reprint marker)
REQUIRED_GLYPHS = "企业点位项目时间采样人固定剂补打第次无—…"
MISSING_GLYPH = "□"
_FIX_HINT = (
    "install Debian's fonts-wqy-zenhei (apt-get install fonts-wqy-zenhei) or set "
    "ENVWATCH_SAMPLING_LABEL_FONT to a TrueType/TTC font with Chinese glyphs"
)


def _measure(font: TTFont) -> Measure:
    """Width in em as ReportLab computes it (advance widths, no kerning), memoised: the fitting measures
    the same words at many sizes."""
    widths: dict[int, float] = font.face.charWidths
    default: float = font.face.defaultWidth

    @functools.lru_cache(maxsize=50_000)
    def measure(text: str) -> float:
        return 0.001 * sum([widths.get(ord(c), default) for c in text])

    return measure


@dataclass(frozen=True)
class _Faces:
    """The registered ReportLab fonts of one font file: body text and code (monospace if there is one)."""

    body: TTFont
    code: TTFont

    @functools.cached_property
    def metrics(self) -> Metrics:
        return Metrics(body=_measure(self.body), code=_measure(self.code))

    def printable(self, label: LabelData) -> LabelData:
        """``label`` with characters the body font lacks replaced by MISSING_GLYPH (logged)."""
        glyphs = self.body.face.charToGlyph
        fallback = MISSING_GLYPH if ord(MISSING_GLYPH) in glyphs else "?"

        def fix(field: str, text: str) -> str:
            missing = {c for c in text if c.isprintable() and not c.isspace() and ord(c) not in glyphs}
            if not missing:
                return text
            log.warning("label %s: font lacks %s in %s", label.code, "".join(sorted(missing)), field)
            return "".join(fallback if c in missing else c for c in text)

        return dataclasses.replace(
            label,
            enterprise=fix("enterprise", label.enterprise),
            point=fix("point", label.point),
            item=fix("item", label.item),
            sampler=fix("sampler", label.sampler),
            preservative=fix("preservative", label.preservative),
        )


_LOCK = threading.Lock()  # ReportLab's font registry is process-wide


def _load(path: Path, index: int) -> TTFont:
    # a stable name (not hash(): randomised per process) keeps the PDF bytes the same from run to run
    name = f"EnvwatchLabel-{hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:10]}-{index}"
    font = TTFont(name, str(path), subfontIndex=index)
    pdfmetrics.registerFont(font)
    return font


@functools.lru_cache(maxsize=4)
def _faces(path: Path) -> _Faces:
    with _LOCK:
        try:
            body = _load(path, 0)
        except (TTFError, OSError, ValueError) as exc:
            raise InvalidInput(
                f"label font {path} is not a usable TrueType/TTC font ({exc}): {_FIX_HINT}"
            ) from None
        code = body
        for index in range(1, getattr(body.face, "numSubfonts", 1)):  # a TTC: look for a monospace face
            face = _load(path, index)
            if b"Mono" in face.face.name:
                code = face
                break
        return _Faces(body, code)


def resolve_font(configured: Path | None) -> Path:
    """The label font file: ``configured`` (the ``sampling_label_font`` setting) or WenQuanYi Zen Hei.

    InvalidInput naming the path and the fix when the file is missing, not a font, or has no Chinese.
    """
    path = configured if configured is not None else DEFAULT_FONT
    if not path.is_file():
        raise InvalidInput(f"label font {path} not found: {_FIX_HINT}")
    glyphs = _faces(path).body.face.charToGlyph
    lacking = "".join(c for c in REQUIRED_GLYPHS if ord(c) not in glyphs)
    if lacking:
        raise InvalidInput(f"label font {path} has no glyphs for {lacking}: {_FIX_HINT}")
    return path


def layout(label: LabelData, size: str, *, font: Path | None = None) -> LabelPlan:
    """Where ``render_pdf`` puts everything on ``label`` (millimetres from the label's bottom-left)."""
    check_label(label, 1)
    faces = _faces(resolve_font(font))
    return plan_label(faces.printable(label), label_size(size), faces.metrics)


def render_pdf(
    labels: Sequence[LabelData],
    size: str,
    *,
    font: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """One PDF with ``labels`` in order: a page per label on rolls, 24 per page on ``a4``.

    ``progress(n)`` is called after the n-th label is drawn. InvalidInput for an unknown size, no labels,
    a bad label (see ``check_label``) or an unusable font.
    """
    stock = label_size(size)
    if not labels:
        raise InvalidInput("no labels to render: give at least one")
    for number, label in enumerate(labels, 1):
        check_label(label, number)
    faces = _faces(resolve_font(font))
    out = io.BytesIO()
    page_w, page_h = stock.page_mm
    canvas = Canvas(
        out,
        pagesize=(page_w * mm, page_h * mm),
        invariant=1,
        pageCompression=1,
        # else every page names an unembedded Helvetica (the stubs mistype this argument)
        initialFontName=faces.body.fontName,  # type: ignore[arg-type]
    )
    canvas.setTitle("样品识别标识 sample labels")
    canvas.setCreator("envwatch")
    canvas.setAuthor("envwatch")
    canvas.setSubject(f"{len(labels)} labels, {stock.name}")
    for done, label in enumerate(labels, 1):
        slot = (done - 1) % stock.per_page
        if done > 1 and slot == 0:
            canvas.showPage()
        plan = plan_label(faces.printable(label), stock, faces.metrics)
        _draw(canvas, plan, stock.origin_mm(slot), faces)
        if progress is not None:
            progress(done)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def _draw(canvas: Canvas, plan: LabelPlan, origin: tuple[float, float], faces: _Faces) -> None:
    canvas.saveState()
    canvas.translate(origin[0] * mm, origin[1] * mm)
    canvas.setFillGray(0)
    canvas.setStrokeGray(0)
    _draw_qr(canvas, plan.qr)
    rule = plan.rule
    canvas.rect(rule.x_mm * mm, rule.y_mm * mm, rule.w_mm * mm, rule.h_mm * mm, stroke=0, fill=1)
    if plan.reprint_tag is not None:
        tag = plan.reprint_tag
        canvas.rect(tag.x_mm * mm, tag.y_mm * mm, tag.w_mm * mm, tag.h_mm * mm, stroke=0, fill=1)
    for run in plan.runs:
        face = faces.code if run.style == "code" else faces.body
        if run.style == "reprint":
            canvas.setFillGray(1)
            canvas.setStrokeGray(1)
        # the faces have no bold: code, keys and the reprint marker get a thin outline stroke (fill+stroke)
        bold = run.style != "value"
        if bold:
            canvas.setLineWidth(run.size_pt * (0.045 if run.style == "code" else 0.03))
        text = canvas.beginText(run.x_mm * mm, run.baseline_mm * mm)
        text.setFont(face.fontName, run.size_pt)
        text.setHorizScale(run.hscale * 100)
        text.setTextRenderMode(2 if bold else 0)
        text.textOut(run.text)
        canvas.drawText(text)
        if run.style == "reprint":
            canvas.setFillGray(0)
            canvas.setStrokeGray(0)
    canvas.restoreState()


def _draw_qr(canvas: Canvas, qr: QrPlacement) -> None:
    """Dark modules as one filled path of horizontal runs, written as PDF operators in a coordinate
    system of 1/100 module (integers: ReportLab's pure-Python number formatting of ~300 rectangles a
    label cost more than everything else). Each run overlaps the row below by 3/100 so anti-aliasing
    renderers leave no light seams between rows."""
    canvas.saveState()
    canvas.translate(qr.x_mm * mm, qr.y_mm * mm)
    canvas.scale(qr.module_mm * mm / 100, qr.module_mm * mm / 100)
    ops = []
    last = qr.modules - 1
    for row_index, row in enumerate(qr.matrix):
        y = (last - row_index) * 100  # the matrix's first row is the top one
        below = 3 if row_index < last else 0
        start = -1
        for col, dark in enumerate((*row, 0)):
            if dark and start < 0:
                start = col
            elif not dark and start >= 0:
                ops.append(f"{start * 100} {y - below} {(col - start) * 100} {100 + below} re")
                start = -1
    ops.append("f")
    canvas.addLiteral("\n".join(ops))
    canvas.restoreState()
