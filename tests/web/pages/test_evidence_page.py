"""The evidence log's status page (/evidence) over HTTP and in a real browser: who may see it, the log's state,
the signed checkpoint and key, the verification runs, the "verify an item" box with its inclusion proofs,
and the bundle download (checked offline as a third party would); screenshot ``evidence-status``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.evidence import keys, log
from envwatch.evidence.bundle_check import check_bundle
from envwatch.evidence.verify import verify
from envwatch.web.app import create_app
from tests.evidence.test_verify_support import EvidenceWorld, build_evidence_world, flip_byte
from tests.web.pages.browser import Tab, tab_per_viewport
from tests.web.pages.conftest import create_users, fresh_store, serving
from tests.web.pages.test_pages import login


@dataclass(frozen=True)
class PageWorld:
    settings: Settings
    engine: Engine
    evidence: EvidenceWorld


@pytest.fixture(scope="module")
def page_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageWorld]:
    with fresh_store(tmp_path_factory.mktemp("evidence_page") / "var") as (settings, engine):
        world = build_evidence_world(engine, settings)
        with engine.begin() as conn:
            create_users(
                conn,
                [
                    ("admin1", {"role": "admin"}),
                    ("reg_wz", {"role": "regulator", "region_code": "3303"}),
                    ("reg_hb", {"role": "regulator", "region_code": "42"}),
                    ("wzjc", {"role": "agency", "agency_id": world.sampling.agency}),
                    ("ent_jia", {"role": "enterprise", "enterprise_id": world.sampling.enterprises["jia"]}),
                ],
                utcnow(),
            )
        # one run that found a changed file, so the runs section has something to show
        flip_byte(world.photo_path())
        verify(engine, settings, world.later, run_by="nightly")
        flip_byte(world.photo_path())  # and back: the store is sound again
        yield PageWorld(settings, engine, world)


@pytest.fixture
def client(page_world: PageWorld) -> Iterator[TestClient]:
    with TestClient(create_app(page_world.settings, page_world.engine)) as c:
        yield c


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found is not None, element_id
    return unescape(found.group(1)).strip()


def test_admin_sees_the_state_checkpoint_key_and_runs(client: TestClient, page_world: PageWorld) -> None:
    login(client, "admin1")
    r = client.get("/evidence")
    assert r.status_code == 200
    html = r.text
    with page_world.engine.connect() as conn:
        size = log.tree_size(conn)
        latest = log.latest_checkpoint(conn)
    assert latest is not None
    assert _text(html, "tree-size") == str(size)
    assert _text(html, "checkpoint-size") == str(latest["tree_size"])
    assert _text(html, "checkpoint-root") == latest["root_hash"]
    assert _text(html, "checkpoint-note") == latest["note"].strip()
    assert _text(html, "vkey") == keys.public_vkey(page_world.settings)
    assert "<h1>存证日志</h1>" in html  # Chinese by default
    assert 'class="badge ok">签名有效' in html
    assert (
        "blob_changed" in html and f"blob_records/{page_world.evidence.blob_id}" in html and "nightly" in html
    )


@pytest.mark.parametrize("user", ["wzjc", "ent_jia"])
def test_other_roles_are_refused(client: TestClient, user: str) -> None:
    login(client, user)
    assert client.get("/evidence").status_code == 403
    assert client.get("/evidence/bundle?item=entry:1").status_code == 403


def test_verify_a_sample_and_download_its_bundle(
    client: TestClient, page_world: PageWorld, tmp_path: Path
) -> None:
    code = page_world.evidence.code
    login(client, "reg_wz")
    html = client.get("/evidence", params={"item": code}).text
    proofs = re.findall(r'<tr data-entry="(\d+)">.*?data-proof="(\w+)"', html, re.S)
    assert len(proofs) == 3 and {proof for _, proof in proofs} == {"verified"}
    assert "样品唯一性标识码" in html and "样品流转记录" in html  # kinds by their Chinese names
    link = re.search(r'id="bundle-link" href="([^"]+)"', html)
    assert link is not None
    r = client.get(unescape(link.group(1)))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert f'filename="evidence-sample-{code}.zip"' in r.headers["content-disposition"]
    path = tmp_path / "bundle.zip"
    path.write_bytes(r.content)
    assert check_bundle(path, trusted_key=keys.public_vkey(page_world.settings)).ok


def test_a_regulator_elsewhere_finds_nothing(client: TestClient, page_world: PageWorld) -> None:
    code = page_world.evidence.code
    login(client, "reg_hb")
    r = client.get("/evidence", params={"item": code})
    assert r.status_code == 404 and "item-entries" not in r.text
    assert code in _text(r.text, "item-error")
    assert client.get("/evidence/bundle", params={"item": f"sample:{code}"}).status_code == 404
    assert client.get("/evidence", params={"item": "entry:1"}).status_code == 404  # entries are for admins


def test_admin_items_and_unknown_ones(client: TestClient, page_world: PageWorld) -> None:
    login(client, "admin1")
    html = client.get("/evidence", params={"item": "entry:1"}).text
    assert re.findall(r'data-proof="(\w+)"', html) == ["verified"]
    assert (
        client.get("/evidence", params={"item": "12345"}).status_code == 404
    )  # a video id that is not there
    assert client.get("/evidence", params={"item": "thing:1"}).status_code == 404


def test_an_entry_newer_than_the_checkpoint(client: TestClient, page_world: PageWorld) -> None:
    w = page_world.evidence
    with page_world.engine.begin() as conn:
        code = w.sampling.register(conn, w.sampling.entry(sampler="zhou"), now=w.later)["code"]
    login(client, "admin1")
    assert set(re.findall(r'data-proof="(\w+)"', client.get("/evidence", params={"item": code}).text)) == {
        "pending"
    }
    assert client.get("/evidence/bundle", params={"item": code}).status_code == 409
    with page_world.engine.begin() as conn:
        log.integrate(conn, w.later)
    assert set(re.findall(r'data-proof="(\w+)"', client.get("/evidence", params={"item": code}).text)) == {
        "uncovered"
    }


@pytest.fixture(scope="module")
def base_url(page_world: PageWorld) -> Iterator[str]:
    with serving(page_world.settings, page_world.engine) as url:
        yield url


@pytest.fixture(params=["desktop"])
def tab(request: pytest.FixtureRequest, browser: Any, base_url: str) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, base_url, {"desktop": {"width": 1280, "height": 900}})


@pytest.mark.timeout(120)
def test_in_a_browser(tab: tuple[str, Tab], page_world: PageWorld, screenshots: Path) -> None:
    _name, t = tab
    t.go("/evidence")
    t.login("admin1")
    page = t.page
    page.fill('input[name="item"]', page_world.evidence.code)
    page.click("#item-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator('[data-proof="verified"]').count() >= 3
    t.shot(screenshots, "evidence-status")
    t.check_clean()
