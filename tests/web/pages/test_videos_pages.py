"""The video record pages (视频记录, WZ-A1): search, upload, playback and annotations, per role and scope,
and the upload in a real browser (tus in chunks, an interrupted connection, a reload, the range request of
the player).

The world is the sampling pages' (tests/web/pages/test_sampling_pages.py): agency A (杭州, its accounts
ag_s = 张采样 and ag_a) with a sample at enterprise 甲, agency B (广州, ag_b = 陈采样) at 乙, regulators of
浙江 and 广东, enterprise accounts, an operator. Records are made through the video API (tus upload, then
the finish call) with the agencies' own sessions, as the upload page does:

- ``a``: A's sampling video at 甲 (plan, sample code, 张采样), recorded 40..30 min ago, in the evidence log;
- ``a_late``: A's transport video at 甲, recorded 5 days ago: archived past the 72 h deadline;
- ``b``: B's hand-over video at 乙 (陈采样), recorded an hour ago, not yet in the log.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from envwatch.core.clock import to_china, utcnow
from envwatch.core.evidence_schema import evidence_entries
from envwatch.evidence import log as evidence_log
from envwatch.evidence.schema import video_annotations
from envwatch.web.app import create_app
from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.conftest import fresh_store, serving
from tests.web.pages.test_sampling_pages import SamplingWorld, _build, as_user

UPLOADS = "/api/v1/evidence/uploads"
VIDEOS = "/api/v1/evidence/videos"
TUS = {"Tus-Resumable": "1.0.0"}
MIB = 1024 * 1024


def mp4_like(size: int, seed: int = 1) -> bytes:
    """Bytes that start with a valid ``ftyp`` box (what the API sniffs), then a pseudo-random body."""
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2avc1"
    block = hashlib.sha256(seed.to_bytes(4, "big")).digest() * 2048  # 64 KiB, differs per seed
    return (head + block * (size // len(block) + 1))[:size]


@dataclass(frozen=True)
class VideoWorld:
    sw: SamplingWorld
    videos: dict[str, int]
    sha256: dict[str, str]


def _record(client: TestClient, csrf: str, data: bytes, body: dict[str, Any]) -> int:
    meta = "filename " + base64.b64encode("现场采样.mp4".encode()).decode()
    headers = TUS | {"X-CSRF-Token": csrf}
    created = client.post(
        UPLOADS, headers=headers | {"Upload-Length": str(len(data)), "Upload-Metadata": meta}
    )
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    sent = client.patch(
        url,
        content=data,
        headers=headers | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert sent.status_code == 204, sent.text
    done = client.post(
        VIDEOS, json={"upload_id": url.rsplit("/", 1)[-1], **body}, headers={"X-CSRF-Token": csrf}
    )
    assert done.status_code == 201, done.text
    return int(done.json()["id"])


def china_iso(moment: datetime) -> str:
    return to_china(moment).isoformat()


def _videos(sw: SamplingWorld) -> VideoWorld:
    now = utcnow()
    app = create_app(sw.settings, sw.engine)
    files = {"a": mp4_like(300_000, 1), "a_late": mp4_like(200_000, 2), "b": mp4_like(100_000, 3)}
    ids: dict[str, int] = {}
    with TestClient(app) as client:
        csrf = as_user(client, "ag_s")
        ids["a"] = _record(
            client,
            csrf,
            files["a"],
            {
                "stage": "sampling",
                "plan_id": sw.plans["a"],
                "sample_codes": [sw.codes["sample_a"]],
                "staff_ids": [sw.staff["sampler"]],
                "device_numbers": ["CYQ-2024-017"],
                "landmark": "甲化工 北门厂牌",
                "recorded_start": china_iso(now - timedelta(minutes=40)),
                "recorded_end": china_iso(now - timedelta(minutes=30)),
                "annotation": "采样全过程",
            },
        )
        with sw.engine.begin() as conn:
            evidence_log.integrate(conn, now)  # record a is in the log; the later ones wait
        ids["a_late"] = _record(
            client,
            csrf,
            files["a_late"],
            {
                "stage": "transport",
                "enterprise_id": sw.enterprises["a"],
                "staff_ids": [sw.staff["receiver"]],
                "recorded_start": china_iso(now - timedelta(days=5, hours=1)),
                "recorded_end": china_iso(now - timedelta(days=5)),
            },
        )
        csrf = as_user(client, "ag_b")
        ids["b"] = _record(
            client,
            csrf,
            files["b"],
            {
                "stage": "handover",
                "enterprise_id": sw.enterprises["b"],
                "staff_ids": [sw.staff["b_sampler"]],
                "recorded_start": china_iso(now - timedelta(hours=1, minutes=10)),
                "recorded_end": china_iso(now - timedelta(hours=1)),
            },
        )
    return VideoWorld(sw, ids, {k: hashlib.sha256(v).hexdigest() for k, v in files.items()})


@pytest.fixture(scope="module")
def video_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VideoWorld]:
    with fresh_store(tmp_path_factory.mktemp("video_pages") / "var") as (settings, engine):
        yield _videos(_build(engine, settings, utcnow()))


@pytest.fixture
def client(video_world: VideoWorld) -> Iterator[TestClient]:
    # English: the page strings are checked in their msgid form (test_i18n checks the Chinese catalog)
    app = create_app(video_world.sw.settings, video_world.sw.engine)
    with TestClient(app, cookies={"lang": "en"}) as c:
        yield c


def shown(page: str) -> set[int]:
    return {int(v) for v in re.findall(r'data-video="(\d+)"', page)}


# ---- search ----


@pytest.mark.parametrize(
    ("username", "sees"),
    [("admin1", {"a", "a_late", "b"}), ("reg_zj", {"a", "a_late"}), ("reg_gd", {"b"}),
     ("ent_a", {"a", "a_late"}), ("ent_b", {"b"}), ("ag_s", {"a", "a_late"}), ("ag_b", {"b"})],
)  # fmt: skip
def test_search_lists_what_the_scope_sees(
    client: TestClient, video_world: VideoWorld, username: str, sees: set[str]
) -> None:
    as_user(client, username)
    r = client.get("/evidence/videos")
    assert r.status_code == 200
    assert shown(r.text) == {video_world.videos[k] for k in sees}


@pytest.mark.parametrize("path", ["/evidence/videos", "/evidence/videos/upload", "/evidence/videos/{a}"])
def test_operator_is_refused(client: TestClient, video_world: VideoWorld, path: str) -> None:
    as_user(client, "op_a")
    r = client.get(path.format(a=video_world.videos["a"]))
    assert r.status_code == 403 and "operator" in r.text


def test_search_filters(client: TestClient, video_world: VideoWorld) -> None:
    w, v = video_world.sw, video_world.videos
    as_user(client, "admin1")

    def found(query: str) -> set[int]:
        r = client.get(f"/evidence/videos?{query}")
        assert r.status_code == 200, r.text
        return shown(r.text)

    assert found(f"sample_code={w.codes['sample_a'].lower()}") == {v["a"]}  # typed in any case
    assert found("stage=transport") == {v["a_late"]}
    assert found(f"staff_id={w.staff['b_sampler']}") == {v["b"]}
    assert found(f"enterprise_id={w.enterprises['a']}") == {v["a"], v["a_late"]}
    assert found(f"agency_id={w.agencies['b']}") == {v["b"]}
    today = to_china(utcnow()).date()
    # recording days overlapping [from, to): the 5-day-old record is outside today's
    recent = found(
        f"from={(today - timedelta(days=1)).isoformat()}&to={(today + timedelta(days=1)).isoformat()}"
    )
    assert v["a_late"] not in recent and v["b"] in recent
    bad = client.get("/evidence/videos?from=yesterday")
    assert bad.status_code == 422 and 'id="problem"' in bad.text and "2026-11-01" in bad.text
    assert shown(bad.text) == set(v.values())  # not applied: the whole list


def test_search_table_shows_times_stage_names_codes_and_the_late_flag(
    client: TestClient, video_world: VideoWorld
) -> None:
    w, v = video_world.sw, video_world.videos
    as_user(client, "ag_s")
    page = client.get("/evidence/videos").text
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r'<tr data-video="(\d+)">.*?</tr>', page, re.S)}
    assert 'data-late="1"' in rows[v["a_late"]] and "data-late" not in rows[v["a"]]
    assert (
        "On-site sampling or testing" in rows[v["a"]]
        and "Sample preservation and transport" in rows[v["a_late"]]
    )
    assert w.codes["sample_a"] in rows[v["a"]] and "甲化工有限公司" in rows[v["a"]]
    assert "杭州某检测有限公司" in rows[v["a"]] and "292.969 KB" not in rows[v["a"]]
    assert "293.0 KB" in rows[v["a"]]  # 300 000 bytes
    assert f'href="/evidence/videos/{v["a"]}"' in rows[v["a"]]
    # China time: the recording end of record a, as the table shows it
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}</time> – <time>", rows[v["a"]])
    assert 'id="upload-link"' in page


def test_search_is_chinese_by_default(video_world: VideoWorld) -> None:
    app = create_app(video_world.sw.settings, video_world.sw.engine)
    with TestClient(app) as c:
        as_user(c, "ag_s")
        page = c.get("/evidence/videos").text
    assert "视频记录" in page and "现场采样或检测" in page and "样品保存与运输" in page


def test_readers_get_no_upload_link(client: TestClient) -> None:
    as_user(client, "reg_zj")
    assert 'id="upload-link"' not in client.get("/evidence/videos").text


# ---- the upload form ----


@pytest.mark.parametrize("username", ["reg_zj", "ent_a"])
def test_upload_form_is_for_writers_only(client: TestClient, username: str) -> None:
    as_user(client, username)
    assert client.get("/evidence/videos/upload").status_code == 403


def test_upload_form_of_an_agency(client: TestClient, video_world: VideoWorld) -> None:
    w = video_world.sw
    csrf = as_user(client, "ag_s")
    page = client.get("/evidence/videos/upload").text
    form = page.split('id="video-upload"')[1]
    assert 'data-endpoint="/api/v1/evidence/uploads"' in form and f'data-csrf="{csrf}"' in form
    assert f'data-chunk="{8 * MIB}"' in form and f'data-agency="{w.agencies["a"]}"' in form
    staff = set(map(int, re.findall(r'name="staff_ids" value="(\d+)"', form)))
    assert staff == {w.staff[k] for k in ("sampler", "untrained", "receiver", "analyst")}  # A's, not B's
    plans = set(map(int, re.findall(r'<option value="(\d+)" data-enterprise=', form)))
    assert w.plans["a"] in plans and w.plans["b"] not in plans
    assert 'src="/static/vendor/tus-js-client/tus.min.js"' in page and 'id="agency-pick"' not in page
    for stage in ("equipment", "sampling", "transport", "handover", "analysis"):
        assert f'<option value="{stage}">' in form


def test_upload_form_of_admin_asks_for_the_agency_first(client: TestClient, video_world: VideoWorld) -> None:
    w = video_world.sw
    as_user(client, "admin1")
    first = client.get("/evidence/videos/upload").text
    assert 'id="agency-pick"' in first and 'id="video-upload"' not in first
    chosen = client.get(f"/evidence/videos/upload?agency_id={w.agencies['b']}").text
    assert f'data-agency="{w.agencies["b"]}"' in chosen
    staff = set(map(int, re.findall(r'name="staff_ids" value="(\d+)"', chosen)))
    assert staff == {w.staff["b_sampler"]}


# ---- one record ----


def test_record_page_plays_and_shows_the_evidence(client: TestClient, video_world: VideoWorld) -> None:
    w, v = video_world.sw, video_world.videos
    as_user(client, "reg_zj")
    r = client.get(f"/evidence/videos/{v['a']}")
    assert r.status_code == 200
    page = r.text
    player = re.search(r"<video [^>]*>", page)
    assert player is not None
    assert f'src="/api/v1/evidence/videos/{v["a"]}/content"' in player.group(0)
    assert "controls" in player.group(0) and 'preload="metadata"' in player.group(0)
    assert f'<a href="/sampling/samples/{w.codes["sample_a"]}"' in page
    assert f'href="/sampling/plans/{w.plans["a"]}"' in page
    assert (
        "张采样" in page and "甲化工有限公司" in page and "甲化工 北门厂牌" in page and "CYQ-2024-017" in page
    )
    assert f'<code id="sha256">{video_world.sha256["a"]}</code>' in page
    sm3 = re.search(r'<code id="sm3">([0-9a-f]{64})</code>', page)
    assert sm3 is not None and sm3.group(1) != video_world.sha256["a"]
    with w.engine.connect() as conn:
        entries = evidence_log.entries_for_ref(conn, f"video_records/{v['a']}")
    assert entries[0]["leaf_index"] is not None
    assert f'data-leaf="{entries[0]["leaf_index"]}"' in page and f"#{entries[0]['id']}" in page
    assert "采样全过程" in page
    assert 'id="annotate"' not in page  # a regulator reads only


def test_record_not_yet_in_the_log_says_so_and_late_is_flagged(
    client: TestClient, video_world: VideoWorld
) -> None:
    v = video_world.videos
    as_user(client, "ag_b")
    page = client.get(f"/evidence/videos/{v['b']}").text
    assert 'data-leaf=""' in page and "waiting to be added to the log" in page
    as_user(client, "ag_s")
    late = client.get(f"/evidence/videos/{v['a_late']}").text
    assert 'data-late="1"' in late and "more than 72 h" in late


@pytest.mark.parametrize(("username", "key"), [("ag_b", "a"), ("ent_b", "a"), ("reg_gd", "a"), ("ag_s", "b")])
def test_record_outside_the_scope_is_not_found(
    client: TestClient, video_world: VideoWorld, username: str, key: str
) -> None:
    as_user(client, username)
    assert client.get(f"/evidence/videos/{video_world.videos[key]}").status_code == 404
    assert client.get("/evidence/videos/999999").status_code == 404


def _annotations(video_world: VideoWorld, video_id: int) -> int:
    with video_world.sw.engine.connect() as conn:
        query = (
            select(func.count())
            .select_from(video_annotations)
            .where(video_annotations.c.video_id == video_id)
        )
        return int(conn.execute(query).scalar_one())


def test_annotation_form_adds_a_logged_note(client: TestClient, video_world: VideoWorld) -> None:
    v = video_world.videos["a"]
    csrf = as_user(client, "ag_s")
    page = client.get(f"/evidence/videos/{v}").text
    assert 'id="annotate"' in page
    r = client.post(
        f"/evidence/videos/{v}/annotations",
        data={"text": "12:30 起封口过程清晰", "at": "12:30", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"/evidence/videos/{v}?done=annotation")
    page = client.get(r.headers["location"]).text
    assert "12:30 起封口过程清晰" in page and 'id="done"' in page
    note = re.search(r'data-annotation="(\d+)"', page)
    assert note is not None
    with video_world.sw.engine.connect() as conn:
        kinds = conn.execute(
            select(evidence_entries.c.kind).where(
                evidence_entries.c.ref == f"video_annotations/{note.group(1)}"
            )
        ).scalars()
        assert list(kinds) == ["video_annotation"]


def test_annotation_refusals(client: TestClient, video_world: VideoWorld) -> None:
    v = video_world.videos["a"]
    before = _annotations(video_world, v)
    csrf = as_user(client, "ag_s")
    empty = client.post(f"/evidence/videos/{v}/annotations", data={"text": "  ", "csrf_token": csrf})
    assert empty.status_code == 422 and 'id="problem"' in empty.text
    bad_at = client.post(
        f"/evidence/videos/{v}/annotations", data={"text": "x", "at": "soon", "csrf_token": csrf}
    )
    assert bad_at.status_code == 422 and "12:30" in html.unescape(bad_at.text)
    no_csrf = client.post(f"/evidence/videos/{v}/annotations", data={"text": "x"})
    assert no_csrf.status_code == 403
    csrf = as_user(client, "ag_b")  # another agency: the record does not exist for it
    assert (
        client.post(f"/evidence/videos/{v}/annotations", data={"text": "x", "csrf_token": csrf}).status_code
        == 404
    )
    csrf = as_user(client, "ent_a")  # sees the record, may not write
    assert (
        client.post(f"/evidence/videos/{v}/annotations", data={"text": "x", "csrf_token": csrf}).status_code
        == 403
    )
    assert _annotations(video_world, v) == before


# ---- the browser: upload with tus, interruption, reload, playback ----

PROGRESS_SPY = """
document.addEventListener("DOMContentLoaded", function () {
  var bar = document.getElementById("upload-progress");
  if (!bar) { return; }
  new MutationObserver(function () {
    var seen = JSON.parse(sessionStorage.getItem("progress-seen") || "[]");
    seen.push(Number(bar.getAttribute("aria-valuenow")));
    sessionStorage.setItem("progress-seen", JSON.stringify(seen));
  }).observe(bar, { attributes: true, attributeFilter: ["aria-valuenow"] });
});
"""


@pytest.fixture(scope="module")
def live(video_world: VideoWorld) -> Iterator[str]:
    with serving(video_world.sw.settings, video_world.sw.engine) as url:
        yield url


def _fill_form(tab: Tab, w: SamplingWorld, file: Path) -> None:
    now = to_china(utcnow())
    p = tab.page
    p.select_option("#stage", "sampling")
    p.select_option("#plan", str(w.plans["a"]))
    p.fill("#sample-codes", w.codes["sample_a"])
    p.check(f'input[name=staff_ids][value="{w.staff["sampler"]}"]')
    p.fill("#device-numbers", "CYQ-2024-017, PH-88")
    p.fill("#landmark", "甲化工 北门厂牌")
    p.fill("#recorded-start", (now - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M"))
    p.fill("#recorded-end", (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    p.fill("#annotation", "浏览器上传")
    p.set_input_files("#video-file", str(file))


def _patch_offsets(requests: list[Any]) -> list[int]:
    return [int(r.headers["upload-offset"]) for r in requests if r.method == "PATCH"]


def test_upload_in_the_browser_survives_a_broken_connection_and_plays(
    browser: Any, live: str, video_world: VideoWorld, screenshots: Path, tmp_path: Path
) -> None:
    w = video_world.sw
    data = mp4_like(20 * MIB, 7)  # three chunks: 8 + 8 + 4 MiB
    file = tmp_path / "采样视频.mp4"
    file.write_bytes(data)
    with Tabs(browser, live) as tabs:
        tab = tabs.open()
        tab.page.add_init_script(PROGRESS_SPY)
        sent: list[Any] = []
        held: list[Any] = []
        content: list[Any] = []
        tab.page.on("request", lambda r: sent.append(r) if "/evidence/uploads" in r.url else None)
        tab.page.on("response", lambda r: content.append(r) if r.url.endswith("/content") else None)

        def on_chunk(route: Any) -> None:
            patches = sum(1 for r in sent if r.method == "PATCH")
            if route.request.method == "PATCH" and patches == 2:
                route.abort("internetdisconnected")  # the second chunk's connection breaks
            elif route.request.method == "PATCH" and patches == 4 and not held:
                held.append(route)  # the last chunk waits until the screenshot is taken
            else:
                route.continue_()

        tab.page.route("**/api/v1/evidence/uploads/*", on_chunk)
        tab.go("/login?next=/evidence/videos/upload")
        tab.login("ag_s")
        assert tab.path() == "/evidence/videos/upload"
        _fill_form(tab, w, file)
        tab.page.click("#upload-button")
        deadline = 200
        while not held and deadline:
            tab.page.wait_for_timeout(100)
            deadline -= 1
        assert held, "the upload did not reach its last chunk"
        assert tab.page.get_attribute("#upload-progress", "aria-valuenow") == "80"  # 16 of 20 MiB
        assert "16.0 MB" in tab.page.inner_text("#upload-bytes") and "20.0 MB" in tab.page.inner_text(
            "#upload-bytes"
        )
        tab.shot(screenshots, "videos-upload-progress")
        held[0].continue_()
        tab.page.wait_for_url(re.compile(r".*/evidence/videos/\d+$"), timeout=30_000)
        seen = tab.page.evaluate("JSON.parse(sessionStorage.getItem('progress-seen') || '[]')")
        assert seen and max(seen) == 100 and seen == sorted(seen)
        # the broken chunk was sent again from the offset the server reported (HEAD), not from the start
        assert any(r.method == "HEAD" for r in sent)
        assert _patch_offsets(sent) == [0, 8 * MIB, 8 * MIB, 16 * MIB]
        video_id = int(tab.path().rsplit("/", 1)[-1])
        assert tab.page.inner_text("#sha256") == hashlib.sha256(data).hexdigest()
        assert w.codes["sample_a"] in tab.page.inner_text("#video-samples")
        assert "张采样" in tab.page.inner_text("#video-staff")
        tab.page.wait_for_function(
            "document.getElementById('player').readyState > 0 || document.getElementById('player').error !== null",
            timeout=15_000,
        )
        ranged = [r for r in content if r.status == 206]
        assert ranged and ranged[0].url.endswith(f"/api/v1/evidence/videos/{video_id}/content")
        assert ranged[0].request.headers.get("range", "").startswith("bytes=")
        tab.shot(screenshots, "videos-record")
        tab.go("/evidence/videos")
        assert tab.page.locator(f'tr[data-video="{video_id}"]').count() == 1
        tab.shot(screenshots, "videos-search")
        # the one failure the test made itself
        tab.errors = [e for e in tab.errors if "ERR_INTERNET_DISCONNECTED" not in e]
        tab.check_clean()


def test_upload_resumes_after_a_reload(
    browser: Any, live: str, video_world: VideoWorld, screenshots: Path, tmp_path: Path
) -> None:
    w = video_world.sw
    data = mp4_like(20 * MIB, 8)
    file = tmp_path / "交接视频.mp4"
    file.write_bytes(data)
    with Tabs(browser, live) as tabs:
        tab = tabs.open()
        sent: list[Any] = []
        held: list[Any] = []
        tab.page.on("request", lambda r: sent.append(r) if "/evidence/uploads" in r.url else None)

        def hold_second(route: Any) -> None:
            if route.request.method == "PATCH" and sum(1 for r in sent if r.method == "PATCH") == 2:
                held.append(route)  # never answered: the page is reloaded meanwhile
            else:
                route.continue_()

        tab.page.route("**/api/v1/evidence/uploads/*", hold_second)
        tab.go("/login?next=/evidence/videos/upload")
        tab.login("ag_s")
        _fill_form(tab, w, file)
        tab.page.click("#upload-button")
        deadline = 200
        while not held and deadline:
            tab.page.wait_for_timeout(100)
            deadline -= 1
        assert held, "the second chunk was never sent"
        before = len(sent)
        tab.page.reload()  # cancels the held chunk: the server has the first 8 MiB
        tab.page.unroute("**/api/v1/evidence/uploads/*")
        # the typed fields come back from the draft; the file has to be chosen again (browsers forget it)
        assert tab.page.input_value("#stage") == "sampling"
        assert tab.page.input_value("#landmark") == "甲化工 北门厂牌"
        tab.page.set_input_files("#video-file", str(file))
        tab.page.click("#upload-button")
        tab.page.wait_for_url(re.compile(r".*/evidence/videos/\d+$"), timeout=30_000)
        after = sent[before:]
        assert not any(r.method == "POST" for r in after), "a new upload was created instead of resuming"
        assert any(r.method == "HEAD" for r in after)
        assert _patch_offsets(after) == [8 * MIB, 16 * MIB]
        assert tab.page.inner_text("#sha256") == hashlib.sha256(data).hexdigest()
        tab.shot(screenshots, "videos-record-resumed")
        tab.check_clean()
