"""One sample's page (issue 7): facts, custody path and chain, the next-step forms per role and scope, the
label prints and reprints, reviews, the evidence files; a full walk through the forms with the TestClient
and one walk to the hand-over in a real browser on a 375 px phone (screenshots).

The world is test_sampling_pages' (its module docstring says who is who).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.core.clock import utcnow
from envwatch.sampling.schema import custody_events, samples
from tests.web.pages import test_sampling_pages as world
from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.conftest import row_count, serving
from tests.web.pages.test_sampling_pages import SamplingWorld, as_user, local, pdf_text, plan_for, sample_for

# the world and the client of the desk pages' tests
sampling_world = world.sampling_world
client = world.client

VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"reprint video " * 20  # a tiny "MP4"
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"photo of the seal " * 10


def state_of(w: SamplingWorld, code: str) -> tuple[str, int, bool]:
    with w.engine.connect() as conn:
        row = conn.execute(
            select(samples.c.state, samples.c.prints, samples.c.needs_review).where(samples.c.code == code)
        ).one()
    return row.state, row.prints, row.needs_review


def events_of(w: SamplingWorld, code: str) -> list[str]:
    with w.engine.connect() as conn:
        return list(
            conn.execute(
                select(custody_events.c.event)
                .join(samples, samples.c.id == custody_events.c.sample_id)
                .where(samples.c.code == code)
                .order_by(custody_events.c.seq)
            ).scalars()
        )


def forms_on(page: str) -> set[str]:
    """The next-step forms a sample page offers."""
    return set(re.findall(r'id="(\w+)-form"', page)) - {"review"}


def problem_on(page: str) -> str:
    found = re.search(r'id="problem">(.*?)</p>', page, re.S)
    assert found is not None, "no problem shown"
    return html.unescape(found.group(1))


def step(client: TestClient, code: str, name: str, token: str, files: Any = None, **fields: Any) -> Any:
    return client.post(
        f"/sampling/samples/{code}/steps/{name}",
        data={"csrf_token": token, **fields},
        files=files or {"photo": ("", b"", "application/octet-stream")},  # multipart, as the browser sends
        follow_redirects=False,
    )


# ---- who sees what ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "status", "acts"),
    [("admin1", 200, True), ("reg_zj", 200, False), ("reg_gd", 404, False), ("ent_a", 200, False),
     ("ent_b", 404, False), ("ag_a", 200, True), ("ag_s", 200, True), ("ag_b", 404, False)],
)  # fmt: skip
def test_sample_page_per_role_and_scope(
    client: TestClient, sampling_world: SamplingWorld, username: str, status: int, acts: bool
) -> None:
    code = sampling_world.codes["sample_a"]
    as_user(client, username)
    r = client.get(f"/sampling/samples/{code}")
    assert r.status_code == status
    if status == 404:
        # exactly what a missing sample answers
        missing = "330100-HZJC-260101-9999-AAAAAA-A"
        assert f"no sample with code {code}" in r.text
        assert f"no sample with code {missing}" in client.get(f"/sampling/samples/{missing}").text
        return
    page = r.text
    assert '<code id="sample-code"' in page and code in page and "甲化工有限公司" in page
    assert "张采样" in page and "无色透明" in page and "H2SO4" in page and "化学需氧量" in page
    assert forms_on(page) == ({"print_label"} if acts else set())
    path = re.findall(r'data-state="(\w+)" data-status="(\w+)"', page)
    assert path[:2] == [("registered", "current"), ("labelled", "todo")]


def test_operator_cannot_open_a_sample(client: TestClient, sampling_world: SamplingWorld) -> None:
    as_user(client, "op_a")
    assert client.get(f"/sampling/samples/{sampling_world.codes['sample_a']}").status_code == 403


def test_custody_chain_shows_where_and_the_offline_flag(
    client: TestClient, sampling_world: SamplingWorld
) -> None:
    as_user(client, "reg_zj")
    page = client.get(f"/sampling/samples/{sampling_world.codes['flagged']}").text
    chain = page.split('id="custody"')[1]
    assert "On-site entry" in chain and "0 m from the point" in chain and "entered offline" in chain
    assert "Phone time" in chain and 'data-review="1"' in page and 'id="review-form"' in page


def test_steps_refused_for_readers_and_other_agencies(
    client: TestClient, sampling_world: SamplingWorld
) -> None:
    w = sampling_world
    code = sample_for(w, plan_for(w, "a"))
    before = row_count(w.engine, custody_events)
    for username, status in (("ent_a", 403), ("reg_zj", 403), ("ag_b", 404), ("reg_gd", 404)):
        token = as_user(client, username)
        assert step(client, code, "print_label", token, size="50x30").status_code == status
        reprint = client.post(
            f"/sampling/samples/{code}/reprint", data={"csrf_token": token, "reason": "x", "size": "50x30"},
            files={"video": ("v.mp4", VIDEO, "video/mp4")},
        )  # fmt: skip
        assert reprint.status_code == status
    token = as_user(client, "ag_s")
    assert step(client, code, "print_label", "wrong-token", size="50x30").status_code == 403
    assert step(client, code, "fly_away", token).status_code == 422
    assert row_count(w.engine, custody_events) == before and state_of(w, code) == ("registered", 0, False)


# ---- the review -------------------------------------------------------------------------------------------


def test_regulator_reviews_a_flagged_entry(client: TestClient, sampling_world: SamplingWorld) -> None:
    w = sampling_world
    code = sample_for(w, w.plans["a"], offline=True)
    token = as_user(client, "reg_gd")  # another region: not found
    assert (
        client.post(
            f"/sampling/samples/{code}/review", data={"csrf_token": token, "outcome": "accepted"}
        ).status_code
        == 404
    )
    token = as_user(client, "ag_a")
    page = client.get(f"/sampling/samples/{code}").text
    assert 'id="review-form"' not in page
    assert (
        client.post(
            f"/sampling/samples/{code}/review", data={"csrf_token": token, "outcome": "accepted"}
        ).status_code
        == 403
    )
    token = as_user(client, "reg_zj")
    refused = client.post(
        f"/sampling/samples/{code}/review", data={"csrf_token": token, "outcome": "questioned"}
    )
    assert refused.status_code == 422 and "the review note is required" in problem_on(refused.text)
    assert state_of(w, code)[2] is True
    r = client.post(
        f"/sampling/samples/{code}/review", data={"csrf_token": token, "outcome": "questioned", "note": "手机时间存疑"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "The review was recorded." in page and "Questioned" in page and "手机时间存疑" in page
    assert 'id="review-form"' not in page and state_of(w, code)[2] is False


# ---- evidence files ---------------------------------------------------------------------------------------


def test_files_are_served_only_with_their_sample(client: TestClient, sampling_world: SamplingWorld) -> None:
    w = sampling_world
    code = sample_for(w, plan_for(w, "a"))
    token = as_user(client, "ag_s")
    assert step(client, code, "print_label", token, size="50x30").status_code == 200
    token = as_user(client, "ag_a")
    r = step(client, code, "hand_over", token, files={"photo": ("seal.jpg", PHOTO, "image/jpeg")},
             check_result="abnormal", note="封条轻微破损")  # fmt: skip
    assert r.status_code == 303, r.text
    sha = hashlib.sha256(PHOTO).hexdigest()
    got = client.get(f"/sampling/samples/{code}/files/{sha}")
    assert (
        got.status_code == 200 and got.content == PHOTO and got.headers["x-content-type-options"] == "nosniff"
    )
    assert got.headers["content-disposition"].startswith("attachment;")
    assert (
        client.get(f"/sampling/samples/{w.codes['sample_a']}/files/{sha}").status_code == 404
    )  # not its file
    as_user(client, "ent_a")  # the enterprise sees the sample, so its photo
    assert client.get(f"/sampling/samples/{code}/files/{sha}").status_code == 200
    as_user(client, "ag_b")
    assert client.get(f"/sampling/samples/{code}/files/{sha}").status_code == 404


# ---- refusals in words, nothing stored ---------------------------------------------------------------------


def test_step_refusals_are_shown_and_store_nothing(client: TestClient, sampling_world: SamplingWorld) -> None:
    w = sampling_world
    code = sample_for(w, plan_for(w, "a"))
    token = as_user(client, "ag_s")
    assert step(client, code, "print_label", token, size="50x30").status_code == 200
    blobs = w.settings.data_dir / "blobs"
    files_before = sorted(p.name for p in blobs.rglob("*"))
    before = row_count(w.engine, custody_events)
    token = as_user(client, "ag_a")
    abnormal = step(client, code, "hand_over", token, check_result="abnormal", note="")
    assert abnormal.status_code == 422
    assert "an abnormal seal or label needs a note and a photo" in problem_on(abnormal.text)
    photo = b"\xff\xd8\xff" + b"never stored" * 5
    damaged = step(
        client,
        code,
        "hand_over",
        token,
        files={"photo": ("x.jpg", photo, "image/jpeg")},
        check_result="damaged",
    )
    assert damaged.status_code == 422 and "is a reject" in problem_on(damaged.text)
    receive = step(client, code, "receive", token)
    assert receive.status_code == 409 and "receive is not allowed in state labelled" in problem_on(
        receive.text
    )
    bad_reprint = client.post(
        f"/sampling/samples/{code}/reprint", data={"csrf_token": token, "reason": "标签污损", "size": "50x30"},
        files={"video": ("", b"", "application/octet-stream")},
    )  # fmt: skip
    assert bad_reprint.status_code == 422 and "a reprint needs the video" in problem_on(bad_reprint.text)
    token = as_user(client, "admin1")
    nobody = step(client, code, "dispatch", token)
    assert nobody.status_code == 422 and "name the person acting" in problem_on(nobody.text)
    assert row_count(w.engine, custody_events) == before and state_of(w, code) == ("labelled", 1, False)
    assert sorted(p.name for p in blobs.rglob("*")) == files_before


def test_reject_shows_the_sample_rejected(client: TestClient, sampling_world: SamplingWorld) -> None:
    w = sampling_world
    code = sample_for(w, plan_for(w, "a"))
    token = as_user(client, "ag_s")
    step(client, code, "print_label", token, size="50x30")
    step(client, code, "dispatch", token, preservation="cold")
    token = as_user(client, "ag_a")
    r = step(client, code, "reject", token, files={"photo": ("d.jpg", PHOTO, "image/jpeg")},
             check_result="damaged", note="封条断裂")  # fmt: skip
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert "The sample was rejected." in page and 'id="rejected-note"' in page
    path = dict(re.findall(r'data-state="(\w+)" data-status="(\w+)"', page))
    assert path["in_transport"] == "done" and path["handed_over"] == "todo" and path["rejected"] == "rejected"
    assert forms_on(page) == set()  # final: nothing next


# ---- the full walk ----------------------------------------------------------------------------------------


def test_full_walk_through_the_forms(client: TestClient, sampling_world: SamplingWorld) -> None:
    w = sampling_world
    now = utcnow()
    # 1. the agency's desk plans the sampling
    token = as_user(client, "ag_a")
    r = client.post(
        "/sampling/plans",
        data={
            "csrf_token": token, "site": f"{w.enterprises['a']}:{w.outlets['a']}", "point_name": "1号废水排放口",
            "window_start": local(now - timedelta(minutes=30)), "window_end": local(now + timedelta(hours=8)),
            "team": [str(w.staff["sampler"])], "item_1": "化学需氧量", "container_1": "500 mL 玻璃瓶",
            "preservation_1": "H2SO4, pH<2", "quantity_1": "1", "rows": "6",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text
    plan_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    # 2. the sampler registers the sample on site (the phone page's store call)
    code = sample_for(w, plan_id)
    assert code in client.get(f"/sampling/plans/{plan_id}").text
    # 3. the sampler prints its label: a PDF with the code
    token = as_user(client, "ag_s")
    page = client.get(f"/sampling/samples/{code}").text
    assert forms_on(page) == {"print_label"}
    printed = step(client, code, "print_label", token, size="50x30", format="pdf", seal_no="F-123")
    assert printed.status_code == 200 and printed.headers["content-type"] == "application/pdf"
    assert code in pdf_text(printed.content).replace(" ", "")
    assert state_of(w, code) == ("labelled", 1, False)
    # 4. a second print is refused: a reprint needs its video
    again = step(client, code, "print_label", token, size="50x30")
    assert again.status_code == 409 and "was printed already" in problem_on(again.text)
    page = client.get(f"/sampling/samples/{code}").text
    assert forms_on(page) == {"reprint", "dispatch", "hand_over", "reject"}
    # 5. the reprint with a small video: the label says 补打
    reprinted = client.post(
        f"/sampling/samples/{code}/reprint",
        data={"csrf_token": token, "reason": "标签被水浸湿", "size": "40x30", "format": "pdf"},
        files={"video": ("reprint.mp4", VIDEO, "video/mp4")},
    )
    assert reprinted.status_code == 200, reprinted.text
    text = pdf_text(reprinted.content)
    assert "补打" in text and code in text.replace(" ", "")
    assert state_of(w, code) == ("labelled", 2, False)
    page = client.get(f"/sampling/samples/{code}").text
    assert "reprinted 1 times" in page and "标签被水浸湿" in page and "Print No. 2" in page
    video = re.search(r'href="([^"]+)" class="video"', page)
    assert video is not None
    served = client.get(video.group(1))
    assert served.content == VIDEO and served.headers["content-type"] == "video/mp4"
    # 6. dispatch, kept cold and dark
    r = step(client, code, "dispatch", token, preservation=["cold", "dark"])
    assert r.status_code == 303 and "The dispatch was recorded." in client.get(r.headers["location"]).text
    # 7. the hand-over: not by the sampler, by the receiver
    own = step(client, code, "hand_over", token, check_result="intact")
    assert own.status_code == 409 and "the sampler cannot take over their own sample" in problem_on(own.text)
    token = as_user(client, "ag_a")
    r = step(client, code, "hand_over", token, check_result="intact", seal_no="F-123", note="完好")
    assert r.status_code == 303, r.text
    # 8. receive, open (re-check), analyse (admin records it for the analyst), dispose
    assert step(client, code, "receive", token).status_code == 303
    assert step(client, code, "open", token, check_result="intact").status_code == 303
    admin_token = as_user(client, "admin1")
    assert step(client, code, "analyse", admin_token, staff_id=str(w.staff["analyst"])).status_code == 303
    token = as_user(client, "ag_a")
    no_note = step(client, code, "dispose", token)
    assert no_note.status_code == 422 and "the note is required" in problem_on(no_note.text)
    r = step(client, code, "dispose", token, note="按规定处置")
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert state_of(w, code) == ("disposed", 2, False)
    assert events_of(w, code) == [
        "register", "print_label", "reprint", "dispatch", "hand_over", "receive", "open", "analyse", "dispose",
    ]  # fmt: skip
    chain = page.split('id="custody"')[1]
    for words in ("Cold, Dark", "李收样", "王分析", "(recorded by admin1)", "F-123", "按规定处置"):
        assert words in chain
    assert all(
        status == "done"
        for state, status in re.findall(r'data-state="(\w+)" data-status="(\w+)"', page)
        if state != "disposed"
    )
    assert forms_on(page) == set()
    # the enterprise reads the whole chain, with no form
    as_user(client, "ent_a")
    page = client.get(f"/sampling/samples/{code}").text
    assert (
        "按规定处置" in page
        and forms_on(page) == set()
        and '<form method="post" action="/sampling' not in page
    )


# ---- the browser walk (375 px phone) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(sampling_world: SamplingWorld) -> Iterator[str]:
    with serving(sampling_world.settings, sampling_world.engine) as url:
        yield url


@pytest.fixture
def phone(browser: Any, live: str) -> Iterator[Tab]:
    with Tabs(browser, live) as tabs:
        yield tabs.open({"width": 375, "height": 740}, mobile=True, accept_downloads=True)


@pytest.mark.timeout(180)
def test_phone_walk_to_the_hand_over(
    phone: Tab,
    sampling_world: SamplingWorld,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    w = sampling_world
    code = sample_for(w, plan_for(w, "a"))
    page = phone.page
    phone.go("/login")
    phone.login("ag_s")
    phone.go("/sampling")
    phone.no_sideways_scroll(375)
    phone.shot(screenshots, "sampling-01-hub-phone")
    phone.go(f"/sampling/samples/{code}")
    assert page.locator("#sample-code").inner_text() == code
    phone.no_sideways_scroll(375)
    phone.shot(screenshots, "sampling-02-sample-registered-phone")
    # the label downloads as a PDF
    page.select_option("#print_label-size", "40x30")
    with page.expect_download() as download:
        page.locator("#print_label-form button[type=submit]").click()
    saved = tmp_path / "label.pdf"
    download.value.save_as(saved)
    assert code in pdf_text(saved.read_bytes()).replace(" ", "")
    phone.go(f"/sampling/samples/{code}")
    assert page.locator("h1 .badge").get_attribute("data-state") == "labelled"
    page.locator("#dispatch summary").click()
    page.check("#dispatch-form input[value=cold]")
    page.locator("#dispatch-form button[type=submit]").click()
    page.wait_for_load_state()
    assert "运输" in page.locator("h1 .badge").inner_text()  # 运输中
    phone.shot(screenshots, "sampling-03-dispatched-phone")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_load_state()
    # the receiver takes it over: an abnormal seal with its photo
    phone.go(f"/sampling/samples/{code}")
    phone.login("ag_a")
    assert phone.path() == f"/sampling/samples/{code}"
    page.locator("#hand_over summary").click()
    page.check("#hand_over-form input[value=abnormal]")
    photo = tmp_path / "seal.jpg"
    photo.write_bytes(PHOTO)
    page.set_input_files("#hand_over-photo", str(photo))
    page.fill("#hand_over-note", "封条一角起翘，标签完好")
    phone.no_sideways_scroll(375)
    phone.shot(screenshots, "sampling-04-hand-over-form-phone")
    page.locator("#hand_over-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#done").is_visible()
    assert page.locator("h1 .badge").get_attribute("data-state") == "handed_over"
    assert page.locator('#custody li[data-event="hand_over"] .photo').count() == 1
    phone.no_sideways_scroll(375)
    phone.shot(screenshots, "sampling-05-handed-over-phone")
    # the desk pages fit the phone too: the plan with its items, the plan form
    phone.go(f"/sampling/plans/{w.plans['a']}")
    phone.no_sideways_scroll(375)
    phone.shot(screenshots, "sampling-06-plan-phone")
    phone.go("/sampling/plans/new")
    assert page.locator("#plan-form").is_visible()
    phone.no_sideways_scroll(375)
    phone.shot(screenshots, "sampling-07-plan-form-phone")
    phone.check_clean()
    assert state_of(w, code) == ("handed_over", 1, False)
