"""Sample labels (识别标识, WZ-A2-7/8) as real round trips: PDF → ``pdftoppm`` PNG → zxing-cpp decodes the
QR code; ``pdffonts`` / ``pdftotext`` show the embedded Chinese font and where every word lands; pixels
tell glyphs from tofu; ZPL checked for its structure."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from envwatch.core.errors import InvalidInput
from envwatch.sampling import labels as labels_module
from envwatch.sampling.label_layout import LabelPlan
from envwatch.sampling.label_text import DESCENT, PT
from envwatch.sampling.labels import (
    DEFAULT_FONT,
    LABEL_SIZES,
    LabelData,
    layout,
    render_pdf,
    render_zpl,
    resolve_font,
)
from envwatch.sampling.labels_zpl import cell_width

POPPLER = all(shutil.which(tool) for tool in ("pdftoppm", "pdftotext", "pdffonts"))
needs_font = pytest.mark.skipif(
    not DEFAULT_FONT.is_file(),
    reason=f"{DEFAULT_FONT} missing: apt-get install fonts-wqy-zenhei (make browser-deps)",
)
needs_poppler = pytest.mark.skipif(
    not POPPLER,
    reason="pdftoppm/pdftotext/pdffonts missing: apt-get install poppler-utils (make browser-deps)",
)
pytestmark = needs_font

ROLLS = [name for name, size in LABEL_SIZES.items() if not size.is_sheet]
DPI = 300
PX_PER_MM = DPI / 25.4
LONG_NAME = "浙江省温州市龙湾区滨海园区某某精细化工股份有限公司第二分厂污水处理站"
SAMPLED = datetime(2026, 11, 23, 2, 5, tzinfo=UTC)  # 10:05 in China


def label(n: int, **changes: object) -> LabelData:
    code = f"330302-WZJC-261123-0042-{n:06X}-Q"
    base = LabelData(
        code=code,
        verify_url=f"http://localhost:8000/v/{code}",
        enterprise="温州市龙湾区永兴化工有限公司",
        point="1号废水总排放口",
        item="化学需氧量 COD",
        sampled_at=SAMPLED,
        sampler="张三",
        preservative="硫酸 pH<2",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def rasterise(pdf: bytes, tmp_path: Path, name: str, dpi: int = DPI) -> list[Image.Image]:
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(source), str(tmp_path / name)], check=True)
    return [Image.open(path).convert("L") for path in sorted(tmp_path.glob(f"{name}-*.png"))]


def poppler_text(pdf: bytes, tmp_path: Path, *args: str) -> str:
    source = tmp_path / "text.pdf"
    source.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", *args, str(source), "-"], check=True, capture_output=True, text=True
    ).stdout


@dataclass
class Word:
    x0: float
    y0: float  # from the page's top, in points, as pdftotext -bbox gives them
    x1: float
    y1: float
    text: str


def word_boxes(pdf: bytes, tmp_path: Path) -> list[tuple[float, float, list[Word]]]:
    html = poppler_text(pdf, tmp_path, "-bbox")
    pages = []
    for page in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', html, re.S):
        words = [
            Word(float(a), float(b), float(c), float(d), text)
            for a, b, c, d, text in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
                page.group(3),
            )
        ]
        pages.append((float(page.group(1)), float(page.group(2)), words))
    return pages


def qr_codes(image: Image.Image) -> list[zxingcpp.Barcode]:
    return list(zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode))


def zone_px(plan: LabelPlan, label_height_mm: float) -> tuple[float, float, float, float]:
    """The QR's quiet zone in pixels of a label image (x0, y0, x1, y1 from the top-left)."""
    zone = plan.qr.zone
    return (
        zone.x_mm * PX_PER_MM,
        (label_height_mm - zone.y_mm - zone.h_mm) * PX_PER_MM,
        (zone.x_mm + zone.w_mm) * PX_PER_MM,
        (label_height_mm - zone.y_mm) * PX_PER_MM,
    )


# --- QR round trips ---------------------------------------------------------------------------------------


@needs_poppler
@pytest.mark.parametrize("size", ROLLS)
def test_every_roll_size_decodes_to_the_verify_url_where_the_layout_put_it(size: str, tmp_path: Path) -> None:
    batch = [
        label(1),
        label(2, enterprise=LONG_NAME, reprint=2),
        label(3, enterprise="温州电镀厂", sampled_at=None),
    ]
    stock = LABEL_SIZES[size]
    pages = rasterise(render_pdf(batch, size), tmp_path, size)
    assert len(pages) == len(batch)
    for page, item in zip(pages, batch, strict=True):
        width, height = stock.width_mm * PX_PER_MM, stock.height_mm * PX_PER_MM
        assert abs(page.width - width) <= 1 and abs(page.height - height) <= 1  # one page per label
        found = qr_codes(page)
        assert [code.text for code in found] == [item.verify_url]
        assert item.code in found[0].text
        x0, y0, x1, y1 = zone_px(layout(item, size), stock.height_mm)
        corners = [found[0].position.top_left, found[0].position.bottom_right]
        assert all(x0 <= c.x <= x1 and y0 <= c.y <= y1 for c in corners), (corners, (x0, y0, x1, y1))
        side_mm = (found[0].position.top_right.x - found[0].position.top_left.x) / PX_PER_MM
        if stock.height_mm <= 30:
            assert side_mm >= 18, f"QR only {side_mm:.1f} mm wide on a {size} label"


@needs_poppler
def test_a4_sheet_holds_24_labels_and_30_labels_make_two_pages_all_decoded(tmp_path: Path) -> None:
    stock = LABEL_SIZES["a4"]
    batch = [label(n, reprint=n % 3) for n in range(30)]
    pages = rasterise(render_pdf(batch, "a4"), tmp_path, "a4")
    assert len(pages) == 2
    page_h = stock.page_mm[1]
    for n, item in enumerate(batch):
        ox, oy = stock.origin_mm(n % stock.per_page)
        box = (
            round(ox * PX_PER_MM),
            round((page_h - oy - stock.height_mm) * PX_PER_MM),
            round((ox + stock.width_mm) * PX_PER_MM),
            round((page_h - oy) * PX_PER_MM),
        )
        cell = pages[n // stock.per_page].crop(box)
        assert [code.text for code in qr_codes(cell)] == [item.verify_url], f"label {n} at {box}"
    # the second sheet's unused cells stay blank
    ox, oy = stock.origin_mm(6)
    empty = pages[1].crop(
        (0, round((page_h - oy - stock.height_mm) * PX_PER_MM), pages[1].width, pages[1].height)
    )
    assert empty.getextrema() == (255, 255)


# --- Chinese: embedded, extractable, glyphs not tofu --------------------------------------------------------


@needs_poppler
def test_the_chinese_font_is_embedded_and_the_text_comes_back(tmp_path: Path) -> None:
    pdf = render_pdf([label(1, sampler="李四", preservative="")], "50x30")
    source = tmp_path / "fonts.pdf"
    source.write_bytes(pdf)
    listing = subprocess.run(["pdffonts", str(source)], check=True, capture_output=True, text=True).stdout
    fonts = listing.splitlines()[2:]
    assert any("WenQuanYiZenHei" in line for line in fonts), listing
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), f"a font is not embedded:\n{listing}"
    text = "".join(poppler_text(pdf, tmp_path).split())
    for expected in (
        "温州市龙湾区永兴化工有限公司",
        "1号废水总排放口",
        "化学需氧量COD",
        "采样人李四",
        "固定剂无",
    ):
        assert expected in text, text
    assert "2026-11-2310:05" in text  # 02:05 UTC printed in China time
    assert "330302-WZJC-261123-0042-000001-Q" in text


def differs_in_text(font: Path | None, tmp_path: Path) -> bool:
    """Two labels one Chinese character apart: do their pictures differ? Tofu boxes would be identical."""
    one = rasterise(
        render_pdf([label(1, enterprise="温州市甲化工有限公司")], "50x30", font=font), tmp_path, "jia"
    )
    two = rasterise(
        render_pdf([label(1, enterprise="温州市乙化工有限公司")], "50x30", font=font), tmp_path, "yi"
    )
    return ImageChops.difference(one[0], two[0]).getbbox() is not None


@needs_poppler
def test_chinese_prints_as_glyphs_not_tofu(tmp_path: Path) -> None:
    assert differs_in_text(None, tmp_path)


DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@needs_poppler
@pytest.mark.skipif(not DEJAVU.is_file(), reason=f"{DEJAVU} missing: no Latin-only font to show tofu with")
def test_the_tofu_check_fails_with_a_font_without_chinese(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(labels_module, "REQUIRED_GLYPHS", "")  # let a Latin-only font through resolve_font
    assert not differs_in_text(DEJAVU, tmp_path)
    assert "font lacks" in caplog.text  # and the missing characters were reported


def test_a_font_without_chinese_is_refused() -> None:
    if not DEJAVU.is_file():
        pytest.skip(f"{DEJAVU} missing")
    with pytest.raises(InvalidInput, match=r"DejaVuSans.ttf has no glyphs for 企业.*fonts-wqy-zenhei"):
        resolve_font(DEJAVU)


# --- reprints, overflow, determinism ------------------------------------------------------------------------


@needs_poppler
def test_a_reprint_says_so_in_a_black_tag(tmp_path: Path) -> None:
    item = label(1, reprint=3)
    text = "".join(poppler_text(render_pdf([item], "40x30"), tmp_path).split())
    assert "补打第3次" in text
    assert "补打" not in "".join(poppler_text(render_pdf([label(1)], "40x30"), tmp_path).split())
    tag = layout(item, "40x30").reprint_tag
    assert tag is not None
    page = rasterise(render_pdf([item], "40x30"), tmp_path, "reprint")[0]
    height = LABEL_SIZES["40x30"].height_mm
    box = [
        round(v * PX_PER_MM)
        for v in (tag.x_mm, height - tag.y_mm - tag.h_mm, tag.x_mm + tag.w_mm, height - tag.y_mm)
    ]
    histogram = page.crop(box).histogram()
    assert sum(histogram[:128]) / sum(histogram) > 0.6  # mostly black: white text on a black tag


EXTREME = {
    "enterprise": LONG_NAME * 12,  # 420 characters: more than even 70 x 50 mm holds at the minimum size
    "point": "第" + "一二三四五六七八九十" * 5 + "号排放口",
    "item": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 化学需氧量（重铬酸盐法）总磷 总氮 氨氮",
    "sampler": "欧阳某某、司马某某、诸葛某某、上官某某",
    "preservative": "硫酸 H2SO4 至 pH<2，4℃ 冷藏避光保存，24 h 内送达实验室",
    "reprint": 12,
}


@needs_poppler
@pytest.mark.parametrize("size", list(LABEL_SIZES))
def test_long_texts_stay_inside_the_label_and_out_of_the_qr(size: str, tmp_path: Path) -> None:
    stock = LABEL_SIZES[size]
    batch = [label(1, **EXTREME), label(2), label(3, enterprise=LONG_NAME)]  # type: ignore[arg-type]
    pages = word_boxes(render_pdf(batch, size), tmp_path)
    cut = 0
    for n, item in enumerate(batch):
        _, page_h, words = pages[n // stock.per_page]
        ox, oy = stock.origin_mm(n % stock.per_page)
        left, top = ox / PT, page_h - (oy + stock.height_mm) / PT  # the label's top-left, in points
        inside = [w for w in words if left <= (w.x0 + w.x1) / 2 <= left + stock.width_mm / PT]
        inside = [w for w in inside if top <= (w.y0 + w.y1) / 2 <= top + stock.height_mm / PT]
        assert inside, f"no words found for label {n}"
        pad = stock.padding_mm / PT - 0.5  # half a point for rounding
        zone = layout(item, size).qr.zone
        qx0, qx1 = left + zone.x_mm / PT, left + (zone.x_mm + zone.w_mm) / PT
        qy0, qy1 = (
            top + (stock.height_mm - zone.y_mm - zone.h_mm) / PT,
            top + (stock.height_mm - zone.y_mm) / PT,
        )
        for w in inside:
            assert left + pad <= w.x0 and w.x1 <= left + stock.width_mm / PT - pad, (size, w)
            assert top + pad <= w.y0 and w.y1 <= top + stock.height_mm / PT - pad, (size, w)
            assert w.x1 <= qx0 or w.x0 >= qx1 - 0.01 or w.y1 <= qy0 or w.y0 >= qy1, f"{w} in the QR zone"
        cut += n == 0 and any("…" in w.text for w in inside)
    assert cut == 1  # the extreme label was cut with an ellipsis, not squeezed past the minimum size


ALPHABET = st.sampled_from(
    list("温州龙湾化工有限公司厂号排放口化学需氧量（）、，。 ABCXYZabc0123456789-<>/%℃·")
)
TEXT = st.text(ALPHABET, max_size=90)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from(list(LABEL_SIZES)),
    enterprise=TEXT,
    point=TEXT,
    item=TEXT,
    sampler=TEXT,
    preservative=TEXT,
    reprint=st.integers(0, 120),
)
def test_no_text_leaves_its_column_whatever_the_values(
    size: str, enterprise: str, point: str, item: str, sampler: str, preservative: str, reprint: int
) -> None:
    stock = LABEL_SIZES[size]
    data = label(7, enterprise=enterprise, point=point, item=item, sampler=sampler, preservative=preservative)
    plan = layout(replace(data, reprint=reprint), size)
    faces = labels_module._faces(DEFAULT_FONT)
    zone = plan.qr.zone
    pad = stock.padding_mm - 1e-6
    for run in plan.runs:
        face = faces.code if run.style == "code" else faces.body
        width = face.stringWidth(run.text, run.size_pt) * run.hscale * PT
        assert pad <= run.x_mm and run.x_mm + width <= stock.width_mm - pad, run
        assert run.baseline_mm - DESCENT * run.size_pt * PT >= pad, run
        assert run.baseline_mm + 0.8 * run.size_pt * PT <= stock.height_mm - pad, run
        if run.style != "code":
            assert run.x_mm >= zone.x_mm + zone.w_mm - 1e-6, run
    assert zone.x_mm >= 0 and zone.y_mm >= 0 and plan.qr.x_mm >= pad and plan.qr.y_mm >= pad


def test_same_labels_same_bytes_even_in_another_process() -> None:
    batch = [label(1), label(2, reprint=1, enterprise=LONG_NAME)]
    first = render_pdf(batch, "60x40")
    assert render_pdf(batch, "60x40") == first
    script = (
        "import sys, hashlib; sys.path.insert(0, 'tests/sampling');"
        "from test_labels import label, LONG_NAME; from envwatch.sampling.labels import render_pdf;"
        "print(hashlib.sha256(render_pdf([label(1), label(2, reprint=1, enterprise=LONG_NAME)], '60x40')).hexdigest())"
    )
    other = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    )
    assert other.stdout.strip() == hashlib.sha256(first).hexdigest()
    assert render_pdf([label(1)], "60x40") != render_pdf([label(1, sampler="李四")], "60x40")


# --- errors and progress ------------------------------------------------------------------------------------


def test_clear_errors() -> None:
    with pytest.raises(InvalidInput, match=r"unknown label size '30x20'.*40x30, 50x30, 60x40, 70x50, a4"):
        render_pdf([label(1)], "30x20")
    with pytest.raises(InvalidInput, match="no labels"):
        render_pdf([], "50x30")
    missing = Path("/nonexistent/fonts/simsun.ttc")
    with pytest.raises(
        InvalidInput, match=r"/nonexistent/fonts/simsun.ttc not found.*apt-get install fonts-wqy-zenhei"
    ):
        render_pdf([label(1)], "50x30", font=missing)
    with pytest.raises(InvalidInput, match="ENVWATCH_SAMPLING_LABEL_FONT"):
        resolve_font(missing)
    with pytest.raises(InvalidInput, match="not a usable TrueType"):
        resolve_font(Path(__file__))
    with pytest.raises(InvalidInput, match=r"label 2 .*timezone-aware"):
        render_pdf([label(1), label(2, sampled_at=datetime(2026, 11, 23, 10, 5))], "50x30")
    with pytest.raises(InvalidInput, match="reprint must be"):
        render_pdf([label(1, reprint=-1)], "50x30")
    with pytest.raises(InvalidInput, match="too long for a 40x30 label"):
        render_pdf([label(1, code="X" * 80)], "40x30")
    with pytest.raises(InvalidInput, match="use a shorter public_base_url"):
        render_pdf([label(1, verify_url="https://example.org/" + "v" * 600)], "40x30")
    assert resolve_font(None) == DEFAULT_FONT


@pytest.mark.parametrize("size", ["40x30", "a4"])
def test_progress_is_called_once_per_label_in_order(size: str) -> None:
    calls: list[int] = []
    render_pdf([label(n) for n in range(27)], size, progress=calls.append)
    assert calls == list(range(1, 28))


# --- ZPL ------------------------------------------------------------------------------------------------------


def test_zpl_has_one_format_per_label_with_utf8_qr_code_and_chinese() -> None:
    batch = [label(1), label(2, reprint=2, sampler="王^五~_六")]
    calls: list[int] = []
    zpl = render_zpl(batch, "50x30", progress=calls.append)
    assert calls == [1, 2]
    formats = re.findall(r"\^XA.*?\^XZ", zpl, re.S)
    assert len(formats) == 2 and zpl.count("^XA") == 2 and zpl.count("^XZ") == 2
    for fmt, item in zip(formats, batch, strict=True):
        assert "^CI28" in fmt and "^CWZ,E:SIMSUN.TTF" in fmt
        assert "^BQN,2," in fmt and f"^FDMA,{item.verify_url}^FS" in fmt
        assert f"^FD{item.code}^FS" in fmt
        texts = re.findall(r"\^FD(.*?)\^FS", fmt)
        assert "采样人" in texts and "固定剂" in texts
        assert item.enterprise in "".join(texts) and "化学需氧量 COD" in "".join(texts)
        width, height = int(re.search(r"\^PW(\d+)", fmt)[1]), int(re.search(r"\^LL(\d+)", fmt)[1])  # type: ignore[index]
        assert (width, height) == (400, 240)  # 50 x 30 mm at 8 dots/mm
        for x, y in re.findall(r"\^FO(\d+),(\d+)", fmt):
            assert 0 <= int(x) < width and 0 <= int(y) < height
    assert "^FR^FH^FD补打 第2次^FS" in formats[1] and "补打" not in formats[0]
    assert "王_5E五_7E_5F六" in formats[1]  # ^ ~ _ cannot end the field
    assert "^CWZ,E:ANMDS.TTF" in render_zpl(batch, "40x30", cjk_font="E:ANMDS.TTF", dpi=300)


@pytest.mark.parametrize("dpi", [203, 300, 600])
@pytest.mark.parametrize("size", ROLLS)
def test_zpl_text_and_qr_stay_inside_the_label(size: str, dpi: int) -> None:
    stock = LABEL_SIZES[size]
    dots = {203: 8, 300: 12, 600: 24}[dpi]
    width, height, pad = stock.width_mm * dots, stock.height_mm * dots, stock.padding_mm * dots - 1
    batch = [label(1), label(2, **EXTREME), label(3, enterprise=LONG_NAME)]  # type: ignore[arg-type]
    for fmt, item in zip(
        re.findall(r"\^XA.*?\^XZ", render_zpl(batch, size, dpi=dpi), re.S), batch, strict=True
    ):
        texts = re.findall(r"\^FO(\d+),(\d+)\^AZN,(\d+),(\d+)(?:\^FR)?\^FH\^FD(.*?)\^FS", fmt)
        assert len(texts) >= 10
        for x, y, h, w, text in texts:  # measured as the printer font prints: full-width Chinese, half ASCII
            assert pad <= int(x) and int(x) + cell_width(text) * int(w) <= width - pad, (x, w, text)
            assert pad <= int(y) and int(y) + int(h) <= height - pad, (y, h, text)
        found = re.search(r"\^FO(\d+),(\d+)\^BQN,2,(\d+)", fmt)
        assert found is not None
        x, y, m = map(int, found.groups())
        side = m * layout(item, size).qr.modules
        assert 4 * m <= x and x + side + 4 * m <= min(int(t[0]) for t in texts if t[4] != item.code)
        assert 4 * m <= height - (y + side)


def test_zpl_errors() -> None:
    with pytest.raises(InvalidInput, match=r"'a4' is a sheet.*40x30, 50x30, 60x40, 70x50"):
        render_zpl([label(1)], "a4")
    with pytest.raises(InvalidInput, match="no labels"):
        render_zpl([], "40x30")
    with pytest.raises(InvalidInput, match="203, 300, 600"):
        render_zpl([label(1)], "40x30", dpi=150)
    with pytest.raises(InvalidInput, match="printer path"):
        render_zpl([label(1)], "40x30", cjk_font="SIMSUN^XZ")
