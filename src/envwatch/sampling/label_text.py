"""Fitting the field text of a sample label into its column: line breaking, shrinking, condensing, cutting.

The fields are a key column (企业, 点位, …) and values that wrap under themselves. The font size is the
largest on a 0.25 pt grid (from the label size's maximum down to ``MIN_TEXT_PT``) at which everything
fits, in this order of preference:

1. no Latin word or number split across lines (a date stays "2026-11-23");
2. upright glyphs; Chinese condensed to 85 % (长体) only when upright text would be smaller than
   ``CONDENSE_BELOW_PT`` and condensing buys at least ``CONDENSE_GAIN_PT``;
3. failing all that, the minimum size, condensed, words split; values cut to ``MAX_LINES`` with "…",
   then to one line each, and last whole fields dropped from the bottom. Text never overflows.

Widths come from a ``Measure`` (em at size 1, additive: no kerning), so the same code serves the
embedded PDF font and a printer's font.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PT = 25.4 / 72  # millimetres per typographic point
MIN_TEXT_PT = 5.0  # below this Chinese stops being legible on a 203 dpi thermal head (14 dots per em)
ASCENT, DESCENT = 0.8, 0.2  # em, as in WenQuanYi Zen Hei (and close enough for printer fonts)
LEADING_MIN = 1.18  # line pitch in em when packed
KEY_GAP_EM = 0.45
HSCALES = (1.0, 0.85)
CONDENSE_GAIN_PT = 1.0
CONDENSE_BELOW_PT = 7.0  # upright text at least this large is legible enough: no condensing then
ELLIPSIS = "…"
KEYS = ("企业", "点位", "项目", "时间", "采样人", "固定剂")
MAX_LINES = (3, 2, 2, 2, 1, 2)  # per field, once the font is at its minimum

Measure = Callable[[str], float]  # width of a text in em (at a font size of 1)

# An ASCII word (with closing punctuation glued on), whitespace, or one other character with the closing
# punctuation that may not start a line (避头点).
_TOKENS = re.compile(r"\s+|[!-~]+[，。、；：？！）》」』”’…]*|.[，。、；：？！）》」』”’…]*", re.S)


def clean(text: str) -> str:
    """One line of printable text: control characters dropped, runs of whitespace made one space."""
    printable = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(printable.split())


def wrap(text: str, measure: Measure, width_em: float) -> tuple[list[str], bool]:
    """Greedy line breaking: between Chinese characters anywhere, Latin words at spaces; a word longer
    than a line is split by characters. Returns the lines and whether a word had to be split."""
    lines: list[str] = []
    current, width, space, split = "", 0.0, False, False
    space_em = measure(" ")
    for token in _TOKENS.findall(text):
        if token.isspace():
            space = bool(current)
            continue
        token_em = measure(token)
        added = token_em + (space_em if space else 0.0)
        if width + added <= width_em:
            current, width = current + (" " if space else "") + token, width + added
            space = False
            continue
        space = False
        if current:
            lines.append(current)
        current, width = "", 0.0
        if token_em <= width_em:
            current, width = token, token_em
            continue
        split = True
        for char in token:
            char_em = measure(char)
            if current and width + char_em > width_em:
                lines.append(current)
                current, width = "", 0.0
            current, width = current + char, width + char_em
    if current:
        lines.append(current)
    return lines or [""], split


def with_ellipsis(line: str, measure: Measure, width_em: float) -> str:
    while line and measure(line.rstrip() + ELLIPSIS) > width_em:
        line = line[:-1]
    return line.rstrip() + ELLIPSIS


def text_height_mm(lines: int, pt: float, leading: float = LEADING_MIN) -> float:
    return (ASCENT + DESCENT + (lines - 1) * leading) * pt * PT


@dataclass(frozen=True, slots=True)
class Fit:
    pt: float
    hscale: float  # horizontal scale of the glyphs (1.0 upright, < 1 condensed)
    key_em: float  # the key column's width, gap included
    lines: list[list[str]]  # per field (a dropped field is absent at the end)


def fit_fields(
    values: Sequence[str], tag: str | None, measure: Measure, width_mm: float, height_mm: float, max_pt: float
) -> Fit:
    """Fit ``values`` (in KEYS order) and an optional reprint ``tag`` line above them into the column."""
    key_em = max(measure(k) for k in KEYS) + KEY_GAP_EM
    extra = 1 if tag else 0
    steps = max(0, int((max_pt - MIN_TEXT_PT) / 0.25))
    grid = [max_pt - 0.25 * i for i in range(steps + 1)]  # largest first

    def attempt(pt: float, hscale: float, allow_split: bool) -> Fit | None:
        width_em = width_mm / (pt * PT * hscale)
        if width_em - key_em < 2 or (tag is not None and measure(tag) + 0.6 > width_em):
            return None
        lines = []
        for value in values:
            wrapped, split = wrap(value, measure, width_em - key_em)
            if split and not allow_split:
                return None
            lines.append(wrapped)
        if text_height_mm(sum(len(ls) for ls in lines) + extra, pt) > height_mm:
            return None
        return Fit(pt, hscale, key_em, lines)

    def largest(hscale: float, allow_split: bool) -> Fit | None:
        # a smaller size never needs more lines nor more splits: binary search on the grid
        lo, hi, best = 0, len(grid) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            found = attempt(grid[mid], hscale, allow_split)
            if found is not None:
                best, hi = found, mid - 1
            else:
                lo = mid + 1
        return best

    for allow_split in (False, True):
        fits = [f for f in (largest(h, allow_split) for h in HSCALES) if f is not None]
        if fits:
            chosen = fits[0]
            for other in fits[1:]:
                if chosen.pt < CONDENSE_BELOW_PT and other.pt >= chosen.pt + CONDENSE_GAIN_PT:
                    chosen = other
            return chosen
    return _cut_to_fit(values, tag, measure, width_mm, height_mm, key_em)


def _cut_to_fit(
    values: Sequence[str], tag: str | None, measure: Measure, width_mm: float, height_mm: float, key_em: float
) -> Fit:
    pt, hscale = MIN_TEXT_PT, HSCALES[-1]
    value_em = max(1.0, width_mm / (pt * PT * hscale) - key_em)
    lines = [wrap(value, measure, value_em)[0] for value in values]
    extra = 1 if tag else 0
    caps = list(MAX_LINES)
    while True:
        cut = [
            [*ls[: cap - 1], with_ellipsis(ls[cap - 1], measure, value_em)] if len(ls) > cap else ls
            for ls, cap in zip(lines, caps, strict=True)
        ]
        if text_height_mm(sum(len(c) for c in cut) + extra, pt) <= height_mm:
            return Fit(pt, hscale, key_em, cut)
        widest = max(range(len(caps)), key=lambda i: (caps[i], i))
        if caps[widest] == 1:  # every field on one line and still too tall: drop fields from the bottom
            while cut and text_height_mm(sum(len(c) for c in cut) + extra, pt) > height_mm:
                cut.pop()
            return Fit(pt, hscale, key_em, cut)
        caps[widest] -= 1
