"""Label printing over the API (WZ-A2-7/8): the first print is recorded and happens once, a reprint needs
its video and shows its count, a batch is all or nothing. Labels are checked as real PDFs (pdftotext,
pdftoppm + zxing-cpp for the QR code) and real ZPL."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from envwatch.core.blobs import BlobStore
from envwatch.sampling.labels import DEFAULT_FONT
from envwatch.sampling.schema import custody_events, samples
from tests.web.sampling_world import API, World, ok, refused, world

__all__ = ["world"]  # the fixture

pytestmark = [
    pytest.mark.skipif(
        not DEFAULT_FONT.is_file(), reason=f"{DEFAULT_FONT} missing: apt-get install fonts-wqy-zenhei"
    ),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("pdftotext", "pdftoppm")),
        reason="poppler-utils missing (pdftotext)",
    ),
]

VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"reprint video frames" * 50


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "label.pdf"
    source.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(source), "-"], check=True, capture_output=True, text=True).stdout
    return "".join(out.split())


def qr_texts(pdf: bytes, tmp_path: Path) -> list[str]:
    source = tmp_path / "qr.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "300", "-png", str(source), str(tmp_path / "qr")], check=True)
    found = []
    for path in sorted(tmp_path.glob("qr-*.png")):
        image = Image.open(path).convert("L")
        found += [b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
    return found


def new_samples(w: World, n: int) -> list[str]:
    item = w.plan()["items"][0]["id"]
    return [w.sample(item)["code"] for _ in range(n)]


def sample_state(w: World, code: str) -> tuple[int, list[str]]:
    with w.engine.connect() as conn:
        row = conn.execute(select(samples.c.id, samples.c.prints).where(samples.c.code == code)).one()
        events = conn.execute(
            select(custody_events.c.event)
            .where(custody_events.c.sample_id == row.id)
            .order_by(custody_events.c.seq)
        ).scalars()
        return row.prints, list(events)


def reprint(w: World, code: str, who: str = "agency", video: bytes | None = VIDEO, **fields: Any) -> Any:
    data = {"reason": "标签被水浸湿无法识读", "size": "50x30"} | fields
    files = {"video": ("reprint.mp4", video, "video/mp4")} if video is not None else None
    if files is None:  # still a multipart form, without the file
        files = {"photo": ("x.jpg", b"\xff\xd8", "image/jpeg")}
    return w.who(who).post(f"{API}/samples/{code}/reprint", data=data, files=files)


def test_the_first_print_is_recorded_and_happens_once(world: World, tmp_path: Path) -> None:
    (code,) = new_samples(world, 1)
    answer = world.who("agency").post(
        f"{API}/samples/{code}/label", json={"size": "50x30", "seal_no": "F-77"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == f'attachment; filename="label-{code}.pdf"'
    text = pdf_text(answer.content, tmp_path)
    for expected in (code, "温州市永兴化工有限公司", "化学需氧量", "张三", "硫酸"):
        assert expected in text, (expected, text)
    assert "补打" not in text
    assert qr_texts(answer.content, tmp_path) == [f"{world.settings.public_base_url}/v/{code}"]
    assert sample_state(world, code) == (1, ["register", "print_label"])
    detail = ok(world.who("agency").get(f"{API}/samples/{code}"))
    assert detail["state"] == "labelled" and detail["custody"][1]["seal_no"] == "F-77"
    assert "print_label" not in detail["next"]
    # a second first print: refused, nothing recorded
    again = world.who("agency").post(f"{API}/samples/{code}/label", json={})
    refused(again, 409, "printed already", "WZ-A2-8")
    assert sample_state(world, code) == (1, ["register", "print_label"])


def test_label_refusals_record_nothing(world: World) -> None:
    (code,) = new_samples(world, 1)
    url = f"{API}/samples/{code}/label"
    refused(world.who("agency").post(url, json={"size": "100x100"}), 422, "100x100")
    refused(world.who("agency").post(url, json={"size": "a4", "format": "zpl"}), 422, "not a ZPL label size")
    refused(world.who("agency").post(url, json={"format": "png"}), 422)
    refused(world.who("admin").post(url, json={}), 422, "staff_id is required")
    refused(world.who("enterprise").post(url, json={}), 403, "may not record")
    refused(world.who("regulator").post(url, json={}), 403, "may not record")
    refused(world.who("other_agency").post(url, json={}), 404, f"no sample with code {code}")
    refused(world.who("operator").post(url, json={}), 403, "no access to sampling")
    assert sample_state(world, code) == (0, ["register"])


def test_zpl_labels(world: World) -> None:
    (code,) = new_samples(world, 1)
    answer = world.who("admin").post(
        f"{API}/samples/{code}/label",
        json={"format": "zpl", "size": "60x40", "staff_id": world.staff["receiver"]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["content-disposition"] == f'attachment; filename="label-{code}.zpl"'
    assert answer.text.startswith("^XA") and answer.text.rstrip().endswith("^XZ") and code in answer.text
    with world.engine.connect() as conn:
        staff = conn.execute(
            select(custody_events.c.staff_id).where(custody_events.c.event == "print_label")
        ).scalar()
    assert staff == world.staff["receiver"]


def test_a_reprint_needs_its_video_and_shows_its_count(world: World, tmp_path: Path) -> None:
    (code,) = new_samples(world, 1)
    refused(reprint(world, code), 409, "never printed")
    assert world.who("agency").post(f"{API}/samples/{code}/label", json={}).status_code == 200
    refused(reprint(world, code, video=None), 422, "video of the whole reprint (WZ-A2-8)")
    refused(reprint(world, code, video=b""), 422, "video of the whole reprint")
    not_video = world.who("agency").post(
        f"{API}/samples/{code}/reprint",
        data={"reason": "坏了"},
        files={"video": ("a.txt", b"text", "text/plain")},
    )
    refused(not_video, 422, "must be a video")
    refused(reprint(world, code, reason=""), 422, "reason")
    refused(reprint(world, code, colour="red"), 422, "colour")
    refused(world.who("agency").post(f"{API}/samples/{code}/reprint", json={"reason": "x"}), 422, "multipart")
    refused(reprint(world, code, "regulator"), 403)
    refused(reprint(world, code, "other_agency"), 404)
    assert sample_state(world, code) == (1, ["register", "print_label"])
    first = reprint(world, code)
    assert first.status_code == 200, first.text
    assert first.headers["x-sample-prints"] == "2"
    assert first.headers["content-disposition"] == f'attachment; filename="label-{code}-reprint-1.pdf"'
    assert "补打第1次" in pdf_text(first.content, tmp_path)
    sha = hashlib.sha256(VIDEO).hexdigest()
    assert (
        first.headers["x-video-sha256"] == sha and BlobStore.from_settings(world.settings).get(sha) == VIDEO
    )
    second = reprint(world, code, format="zpl")
    assert second.status_code == 200 and "第2次" in second.text
    assert sample_state(world, code) == (3, ["register", "print_label", "reprint", "reprint"])
    custody = ok(world.who("agency").get(f"{API}/samples/{code}"))["custody"]
    assert [(e["details"], e["video_sha256"], e["note"]) for e in custody[2:]] == [
        ({"print": 2}, sha, "标签被水浸湿无法识读"),
        ({"print": 3}, sha, "标签被水浸湿无法识读"),
    ]


def test_a_batch_prints_first_labels_all_or_nothing(world: World, tmp_path: Path) -> None:
    codes = new_samples(world, 3)
    c = world.who("agency")
    refused(c.post(f"{API}/labels", json={"codes": [codes[0], codes[0].lower()]}), 422, "more than once")
    refused(c.post(f"{API}/labels", json={"codes": []}), 422)
    refused(c.post(f"{API}/labels", json={"codes": ["X"] * 2001}), 422)
    # one already printed: nothing printed, the code named
    assert c.post(f"{API}/samples/{codes[1]}/label", json={}).status_code == 200
    refused(c.post(f"{API}/labels", json={"codes": codes}), 409, "nothing printed", f"printed already (reprint each with its video): {codes[1]}")  # fmt: skip
    assert [sample_state(world, code)[0] for code in codes] == [0, 1, 0]
    # another agency's code (or one never issued) is "not found" for it, and stops the batch too
    mixed = [codes[0], codes[2]]
    refused(world.who("other_agency").post(f"{API}/labels", json={"codes": mixed}), 409, f"not found: {codes[0]}, {codes[2]}")  # fmt: skip
    refused(world.who("regulator").post(f"{API}/labels", json={"codes": mixed}), 403)
    assert [sample_state(world, code)[0] for code in codes] == [0, 1, 0]
    answer = c.post(f"{API}/labels", json={"codes": [code.lower() for code in mixed], "size": "a4"})
    assert answer.status_code == 200, answer.text
    text = pdf_text(answer.content, tmp_path)
    assert codes[0] in text and codes[2] in text and codes[1] not in text
    assert sorted(qr_texts(answer.content, tmp_path)) == sorted(
        f"{world.settings.public_base_url}/v/{c}" for c in mixed
    )
    assert [sample_state(world, code) for code in codes] == [(1, ["register", "print_label"])] * 3
