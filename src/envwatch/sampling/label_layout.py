"""Where everything goes on one sample label (识别标识, WZ-A2-7/8): pure geometry and text fitting in
millimetres, shared by the PDF and the ZPL renderers (they only draw the plan).

Layout, y up from the label's bottom-left corner::

    ┌──────────────────────────────────────────┐
    │ 330302-WZJC-261123-0042-7KQ9XM-T   (code) │  bold monospace, shrunk to the width
    │──────────────────────────────────────────│  hair rule
    │ ▛▀▀▀▀▀▀▜  [补打 第1次]                    │  reprint tag (inverted), only on reprints
    │ ▌  QR  ▐  企  业 温州某某化工有限公司      │  key column (2-char keys spread to 3 chars)
    │ ▌      ▐  点  位 1号废水排放口             │  values wrap under themselves, hanging
    │ ▙▄▄▄▄▄▄▟  项  目 化学需氧量 COD  …         │
    └──────────────────────────────────────────┘

Invariants (tested): all text and the QR's dark modules lie inside the label's padding; the QR keeps its
4-module quiet zone free of ink and inside the label (it may reach into the padding, which is blank);
text never overflows: the field font shrinks from the size's maximum down to ``MIN_TEXT_PT``, then
values are cut with "…" and, last, whole lines are dropped. The code is never cut: its font shrinks to
the width and a code that would need less than ``MIN_CODE_PT`` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import segno

from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput
from envwatch.sampling.label_sizes import LabelSize
from envwatch.sampling.label_text import (
    ASCENT,
    DESCENT,
    KEY_GAP_EM,
    KEYS,
    LEADING_MIN,
    PT,
    Fit,
    Measure,
    clean,
    fit_fields,
)

MIN_CODE_PT = 4.0
MIN_MODULE_MM = 0.25  # two dots of a 203 dpi head; a longer verify URL is refused rather than unscannable
QUIET_MODULES = 4  # ISO/IEC 18004 quiet zone
FIELD_GAP_MAX = 0.45  # em added between fields when the label has room to spread them
GAP_MM = 0.7  # between the code row, the rule and the body


@dataclass(frozen=True, slots=True)
class LabelData:
    """What one sample label shows (the contract with sampling's store and API)."""

    code: str  # the sample code, e.g. "330302-WZJC-261123-0042-7KQ9XM-T"
    verify_url: str  # what the QR code carries: <public_base_url>/v/<code>
    enterprise: str  # 企业
    point: str  # 点位
    item: str  # 监测项目
    sampled_at: datetime | None  # UTC aware; printed in China time; None = not yet recorded ("—")
    sampler: str  # 采样人
    preservative: str  # 固定剂 ("" = 无)
    reprint: int = 0  # 0 = the original print; n > 0 prints "补打 第n次" (WZ-A2-8)


@dataclass(frozen=True, slots=True)
class Metrics:
    """How wide texts are, per face: the PDF asks the embedded font, ZPL assumes full/half-width cells."""

    body: Measure
    code: Measure


@dataclass(frozen=True, slots=True)
class Box:
    x_mm: float
    y_mm: float
    w_mm: float
    h_mm: float


@dataclass(frozen=True, slots=True)
class Run:
    """One piece of text on one baseline. style: code | key | value | reprint (white on black)."""

    x_mm: float
    baseline_mm: float
    text: str
    size_pt: float
    style: str
    hscale: float = 1.0  # horizontal glyph scale (condensed < 1)


@dataclass(frozen=True, slots=True)
class QrPlacement:
    x_mm: float  # bottom-left of the dark area; the quiet zone lies around it
    y_mm: float
    module_mm: float
    matrix: tuple[bytearray, ...]  # segno's rows, top row first, 1 = dark

    @property
    def modules(self) -> int:
        return len(self.matrix)

    @property
    def side_mm(self) -> float:
        return self.modules * self.module_mm

    @property
    def zone(self) -> Box:
        """The symbol with its quiet zone: nothing else is drawn in here."""
        q = QUIET_MODULES * self.module_mm
        return Box(self.x_mm - q, self.y_mm - q, self.side_mm + 2 * q, self.side_mm + 2 * q)


@dataclass(frozen=True, slots=True)
class LabelPlan:
    qr: QrPlacement
    rule: Box
    reprint_tag: Box | None
    runs: tuple[Run, ...]


def check_label(label: LabelData, number: int) -> None:
    """InvalidInput for what cannot be printed correctly; ``number`` is 1-based, for the message."""
    where = f"label {number} ({label.code!r})"
    if not label.code or not label.code.isascii() or not label.code.isprintable() or " " in label.code:
        raise InvalidInput(f"{where}: the sample code must be printable ASCII without spaces")
    if not label.verify_url or any(c.isspace() for c in label.verify_url):
        raise InvalidInput(f"{where}: the verify URL must be non-empty and without spaces")
    if label.reprint < 0:
        raise InvalidInput(f"{where}: reprint must be 0 (original) or a positive count, got {label.reprint}")
    if label.sampled_at is not None and label.sampled_at.utcoffset() is None:
        raise InvalidInput(f"{where}: sampled_at must be timezone-aware (UTC), got a naive datetime")


def field_values(label: LabelData) -> tuple[str, ...]:
    """The six values in KEYS order, as printed."""
    when = "—" if label.sampled_at is None else f"{to_china(label.sampled_at):%Y-%m-%d %H:%M}"
    return (
        clean(label.enterprise) or "—",
        clean(label.point) or "—",
        clean(label.item) or "—",
        when,
        clean(label.sampler) or "—",
        clean(label.preservative) or "无",
    )


def reprint_text(reprint: int) -> str:
    return f"补打 第{reprint}次"


def place_qr(url: str, top_mm: float, size: LabelSize, *, best_mask: bool = True) -> QrPlacement:
    """The largest QR (error correction M) whose quiet zone fits between the label's left/bottom edges
    and ``top_mm``, with its dark modules inside the padding; at most half the label wide (but a 24 mm
    zone at least, so a 30 mm high label keeps a symbol of ~19 mm).

    ``best_mask=False`` skips segno's choice of the best of 8 masks (about 8 ms a symbol, most of a label's
    time): for renderers that only need the symbol's size because the printer draws the QR itself."""
    symbol = segno.make(url, error="m", boost_error=False, micro=False, mask=None if best_mask else 0)
    matrix = tuple(symbol.matrix)
    n, pad = len(matrix), size.padding_mm
    side = (top_mm - pad) * n / (n + QUIET_MODULES)  # the bottom quiet zone lies in the padding
    if QUIET_MODULES * side / n > pad:  # ... unless it is wider than the padding
        side = top_mm * n / (n + 2 * QUIET_MODULES)
    zone_max = max(size.width_mm / 2, 24.0)
    side = min(side, zone_max * n / (n + 2 * QUIET_MODULES))
    module = side / n
    if module < MIN_MODULE_MM:
        raise InvalidInput(
            f"the verify URL ({len(url)} characters) needs a QR code of {n} modules, too dense for a "
            f"{size.name} label (module {module:.2f} mm < {MIN_MODULE_MM} mm): use a shorter public_base_url"
        )
    edge = max(pad, QUIET_MODULES * module)
    top_aligned = top_mm - QUIET_MODULES * module - side  # level with the first text line when capped
    return QrPlacement(edge, max(edge, top_aligned), module, matrix)


def plan_label(label: LabelData, size: LabelSize, metrics: Metrics, *, best_mask: bool = True) -> LabelPlan:
    """Everything on one label, in millimetres from its bottom-left corner (``best_mask``: see place_qr)."""
    w, h, pad = size.width_mm, size.height_mm, size.padding_mm
    inner = w - 2 * pad
    code_pt = min(size.max_text_pt + 1.5, inner / (metrics.code(label.code) * PT))
    if code_pt < MIN_CODE_PT:
        raise InvalidInput(
            f"sample code {label.code!r} is too long for a {size.name} label: it would print at "
            f"{code_pt:.1f} pt (< {MIN_CODE_PT} pt)"
        )
    top = h - pad
    code = Run(pad, top - ASCENT * code_pt * PT, label.code, code_pt, "code")
    rule_y = top - (ASCENT + DESCENT) * code_pt * PT - GAP_MM
    rule = Box(pad, rule_y, inner, 0.2)
    body_top = rule_y - GAP_MM
    qr = place_qr(label.verify_url, body_top, size, best_mask=best_mask)
    zone_right = qr.zone.x_mm + qr.zone.w_mm
    column = Box(zone_right, pad, w - pad - zone_right, body_top - pad)
    tag = reprint_text(label.reprint) if label.reprint else None
    fit = fit_fields(field_values(label), tag, metrics.body, column.w_mm, column.h_mm, size.max_text_pt)
    tag_box, runs = _place_fields(fit, tag, column, metrics.body)
    return LabelPlan(qr, rule, tag_box, (code, *runs))


def _place_fields(
    fit: Fit, tag: str | None, column: Box, measure: Measure
) -> tuple[Box | None, tuple[Run, ...]]:
    em = fit.pt * PT  # vertical em
    em_x = em * fit.hscale  # horizontal em (condensed glyphs are narrower)
    blocks = [[tag]] if tag else []
    blocks += fit.lines
    count = sum(len(block) for block in blocks)
    # Room to spare goes between the fields (a wrapped value keeps its lines together), up to FIELD_GAP_MAX
    spare = column.h_mm / em - (ASCENT + DESCENT + (count - 1) * LEADING_MIN)
    gap = 0.0 if len(blocks) < 2 else min(FIELD_GAP_MAX, max(0.0, spare / (len(blocks) - 1)))
    top = column.y_mm + column.h_mm
    baselines: list[float] = []
    y = top - ASCENT * em
    for block in blocks:
        for _ in block:
            baselines.append(y)
            y -= LEADING_MIN * em
        y -= gap * em

    def run(x: float, slot: int, text: str, style: str) -> Run:
        return Run(x, baselines[slot], text, fit.pt, style, fit.hscale)

    runs: list[Run] = []
    tag_box = None
    slot = 0
    if tag is not None:
        bottom = baselines[0] - (DESCENT + 0.1) * em
        tag_box = Box(column.x_mm, bottom, min(column.w_mm, (measure(tag) + 0.6) * em_x), top - bottom)
        runs.append(run(column.x_mm + 0.3 * em_x, 0, tag, "reprint"))
        slot = 1
    value_x = column.x_mm + fit.key_em * em_x
    key_right = column.x_mm + (fit.key_em - KEY_GAP_EM) * em_x
    for key, lines in zip(KEYS, fit.lines, strict=False):
        if len(key) == 2:  # 企  业: a two-character key spread over the three-character column (分散对齐)
            runs.append(run(column.x_mm, slot, key[0], "key"))
            runs.append(run(key_right - measure(key[1]) * em_x, slot, key[1], "key"))
        else:
            runs.append(run(column.x_mm, slot, key, "key"))
        for line in lines:
            runs.append(run(value_x, slot, line, "value"))
            slot += 1
    return tag_box, tuple(runs)
