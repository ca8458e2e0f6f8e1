"""Label stock the sample label renderer knows (识别标识 sizes, WZ-A2-7/8).

A size is either a roll of thermal labels (one label per page, the page *is* the label) or an office sheet
(A4, a grid of die-cut labels). All measures are millimetres. ``padding_mm`` is the blank band kept inside
every label edge: the printer's unprintable edge and the die-cut tolerance of the stock.

To add a size, add one ``LabelSize`` to ``LABEL_SIZES``; the layout adapts (see docs/sampling/labels.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from envwatch.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class LabelSize:
    """One label format: the label's own size and, for sheets, the grid it sits in."""

    name: str
    width_mm: float
    height_mm: float
    padding_mm: float
    max_text_pt: float  # the field text never grows past this, however much room is left
    page_width_mm: float = 0.0  # 0: a roll, the page is the label
    page_height_mm: float = 0.0
    columns: int = 1
    rows: int = 1
    left_mm: float = 0.0  # the grid's top-left corner on the sheet
    top_mm: float = 0.0

    @property
    def is_sheet(self) -> bool:
        return self.page_width_mm > 0

    @property
    def page_mm(self) -> tuple[float, float]:
        if self.is_sheet:
            return self.page_width_mm, self.page_height_mm
        return self.width_mm, self.height_mm

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def origin_mm(self, slot: int) -> tuple[float, float]:
        """Bottom-left corner of the label in ``slot`` (0 = top-left, row by row) in page coordinates
        (PDF: y grows upwards)."""
        row, column = divmod(slot, self.columns)
        x = self.left_mm + column * self.width_mm
        y = self.page_mm[1] - self.top_mm - (row + 1) * self.height_mm
        return x, y


def _roll(width: float, height: float, max_text_pt: float) -> LabelSize:
    return LabelSize(f"{width:g}x{height:g}", width, height, padding_mm=1.5, max_text_pt=max_text_pt)


LABEL_SIZES: dict[str, LabelSize] = {
    size.name: size
    for size in (
        _roll(40, 30, 7.5),
        _roll(50, 30, 7.5),
        _roll(60, 40, 9),
        _roll(70, 50, 10),
        # A4 sheet of 3 x 8 labels of 70 x 37 mm (24 per sheet, no gaps, 0.5 mm top and bottom margin).
        # Office printers cannot print the outer ~4 mm of a sheet, hence the wide padding.
        LabelSize(
            "a4",
            70,
            37,
            padding_mm=4.5,
            max_text_pt=8.5,
            page_width_mm=210,
            page_height_mm=297,
            columns=3,
            rows=8,
            left_mm=0,
            top_mm=0.5,
        ),
    )
}


def label_size(name: str) -> LabelSize:
    """The size called ``name``; an unknown name is an InvalidInput that lists the known ones."""
    try:
        return LABEL_SIZES[name]
    except KeyError:
        known = ", ".join(LABEL_SIZES)
        raise InvalidInput(f"unknown label size {name!r}: use one of {known}") from None
