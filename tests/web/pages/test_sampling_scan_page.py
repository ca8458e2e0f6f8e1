"""The scan page (/sampling/scan): who may open it, the server-side reading of what was scanned or typed
(a code, a lower-case code, a whole verification URL → the sample page; a mistyped check character, a
date that does not exist, anything else → the form again with the reason in words), and in a real browser
on a 375 px phone: a handheld scanner's code + Enter, a QR image decoded by the page's own decoder path
(jsQR; headless chromium on Linux has no BarcodeDetector), and the camera itself: chromium's fake camera
plays a video of a label's QR code, which the page reads and follows.

The world is the one of ``test_sampling_field_page`` (``field_world_at``).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from fastapi.testclient import TestClient

from envwatch.sampling.codes import check_character
from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.conftest import CHROMIUM
from tests.web.pages.test_pages import login
from tests.web.pages.test_sampling_field_page import PHONE, FieldWorld, english_client, field_world_at


@pytest.fixture(scope="module")
def fw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldWorld]:
    with field_world_at(tmp_path_factory.mktemp("sampling_scan") / "var") as world:
        yield world


@pytest.fixture
def client(fw: FieldWorld) -> Iterator[TestClient]:
    with english_client(fw) as c:
        yield c


def scan(client: TestClient, text: str) -> Any:
    return client.get("/sampling/scan", params={"code": text}, follow_redirects=False)


# ---- the page and the server-side reading ------------------------------------------------------------------


@pytest.mark.parametrize("username", ["admin1", "reg_zj", "ent_yi", "lab_a", "lab_b"])
def test_every_role_with_samples_may_scan(client: TestClient, username: str) -> None:
    login(client, username)
    r = client.get("/sampling/scan")
    assert r.status_code == 200
    assert 'id="code"' in r.text and "autofocus" in r.text
    assert 'data-jsqr="/static/vendor/jsqr/jsQR.js"' in r.text


def test_roles_without_samples_are_refused(client: TestClient) -> None:
    assert client.get("/sampling/scan", follow_redirects=False).status_code == 303  # to the login
    login(client, "op1")
    assert client.get("/sampling/scan").status_code == 403


def test_a_scanned_code_opens_its_sample(client: TestClient, fw: FieldWorld) -> None:
    login(client, "lab_a")
    target = f"/sampling/samples/{fw.code}"
    for text in (fw.code, f"  {fw.code.lower()} ", f"https://envwatch.example.cn/v/{fw.code}"):
        r = scan(client, text)
        assert r.status_code == 303 and r.headers["location"] == target, text


def test_a_code_of_a_sample_out_of_sight_still_goes_to_the_sample_page_which_says_not_found(
    client: TestClient, fw: FieldWorld
) -> None:
    # the scan page only reads the code; the sample page decides (404 exactly like a missing one)
    login(client, "lab_b")
    r = scan(client, fw.code)
    assert r.status_code == 303 and r.headers["location"] == f"/sampling/samples/{fw.code}"


def _bad_check(code: str) -> str:
    body, check = code.rsplit("-", 1)
    wrong = next(c for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c != check)
    return f"{body}-{wrong}"


def test_what_is_not_a_code_is_said_in_words(client: TestClient, fw: FieldWorld) -> None:
    login(client, "lab_a")
    body = "330302-WZJC-261340-0001-7KQ9XM"  # the 40th of month 13
    cases = {
        _bad_check(fw.code): "check character does not match",
        f"{body}-{check_character(body)}": "is not a real date",
        "hello world": "This is not a sample code",
    }
    for text, reason in cases.items():
        r = scan(client, text)
        assert r.status_code == 422, text
        assert reason in r.text, (text, r.text)
        assert 'aria-invalid="true"' in r.text
        assert f'value="{text}"' in r.text  # given back to correct


# ---- in a real browser -------------------------------------------------------------------------------------


@pytest.fixture
def phone(browser: Any, fw: FieldWorld) -> Iterator[Tab]:
    with Tabs(browser, fw.base_url) as tabs:
        tab = tabs.open(PHONE, mobile=True)
        tab.go("/sampling/scan")
        tab.login("lab_a")
        yield tab


def test_a_handheld_scanner_types_the_code_and_enter(phone: Tab, fw: FieldWorld, screenshots: Path) -> None:
    page = phone.page
    assert phone.path() == "/sampling/scan"
    assert page.evaluate("document.activeElement.id") == "code"  # ready for the scanner at once
    assert page.locator("#camera-button").is_visible()  # the script found getUserMedia (localhost)
    phone.shot(screenshots, "sampling-scan-phone")
    phone.no_sideways_scroll()
    page.keyboard.type("330302-wzjc-999999")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#problem").is_visible()
    phone.shot(screenshots, "sampling-scan-phone-problem")
    phone.no_sideways_scroll()
    page.fill("#code", fw.code.lower())
    with page.expect_response(lambda r: r.url.endswith(f"/sampling/samples/{fw.code}")) as answer:
        page.keyboard.press("Enter")
    page.wait_for_url(f"**/sampling/samples/{fw.code}")
    assert answer.value.status == 200
    phone.check_clean(422)


def _qr_png(text: str) -> str:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=6, border=4)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


READ_IMAGE = """async (src) => {
  const img = new Image();
  img.src = src;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext("2d").drawImage(img, 0, 0);
  return await window.EnvwatchScan.read(canvas);
}"""


READ_BLANK = """async () => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 300;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, 300, 300);
  return await window.EnvwatchScan.read(canvas);
}"""


def test_the_page_decodes_a_label_qr_image_and_opens_the_sample(phone: Tab, fw: FieldWorld) -> None:
    page = phone.page
    url = f"{fw.settings.public_base_url.rstrip('/')}/v/{fw.code}"
    answer = page.evaluate(READ_IMAGE, _qr_png(url))
    assert answer == {"decoder": "jsQR", "text": url}
    assert any(r.endswith("/static/vendor/jsqr/jsQR.js") for r in phone.requests)  # loaded on demand
    assert page.evaluate(READ_BLANK) == {"decoder": "jsQR", "text": None}  # no QR code in the picture
    with page.expect_response(lambda r: r.url.endswith(f"/sampling/samples/{fw.code}")) as opened:
        page.evaluate("(text) => window.EnvwatchScan.found(text)", url)
    page.wait_for_url(f"**/sampling/samples/{fw.code}")
    assert opened.value.status == 200
    phone.check_clean()


def _qr_video(text: str, path: Path, width: int = 640, height: int = 480) -> None:
    """A Y4M video (what chromium's fake camera plays) of a white frame with the QR code of ``text``."""
    rows = [list(row) for row in segno.make(text, error="m").matrix_iter(scale=6, border=4)]
    luma = bytearray([235]) * (width * height)
    top, left = (height - len(rows)) // 2, (width - len(rows[0])) // 2
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                luma[(top + y) * width + left + x] = 16
    chroma = bytes([128]) * (width * height // 4)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * 10)


@pytest.mark.timeout(180)
def test_the_camera_reads_a_label_and_opens_the_sample(
    browser: Any, fw: FieldWorld, tmp_path: Path, screenshots: Path
) -> None:
    video = tmp_path / "label.y4m"
    _qr_video(f"{fw.settings.public_base_url.rstrip('/')}/v/{fw.code}", video)
    camera = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    # a chromium of its own (the camera is a launch flag), from the session's Playwright
    with_camera = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=camera)
    try:
        with Tabs(with_camera, fw.base_url) as tabs:
            tab = tabs.open(PHONE, mobile=True, permissions=["camera"])
            tab.go("/sampling/scan")
            tab.login("lab_a")
            page = tab.page
            with page.expect_response(lambda r: r.url.endswith(f"/sampling/samples/{fw.code}")) as opened:
                page.click("#camera-button")
            page.wait_for_url(f"**/sampling/samples/{fw.code}")
            assert opened.value.status == 200
            tab.shot(screenshots, "sampling-scan-camera-opened")
            tab.check_clean()
    finally:
        with_camera.close()
