"""/region over HTTP: counts, map data, rankings and exceedances follow the scope and the region; a
regulator cannot widen its region; other roles get 403; the map's settings reach the page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from envwatch.web.app import create_app
from envwatch.web.pages import region
from tests.web.pages.conftest import shown_count
from tests.web.pages.region.conftest import MN1, MN2, RegionWorld
from tests.web.pages.test_pages import login

FRAGMENTS = ("/region/counts", "/region/outlets.json", "/region/ranking", "/region/exceedances")


@pytest.fixture
def client(region_world: RegionWorld) -> Iterator[TestClient]:
    with TestClient(create_app(region_world.settings, region_world.engine)) as c:
        yield c


def _outlet_ids(client: TestClient, query: str = "") -> set[int]:
    r = client.get("/region/outlets.json" + query)
    assert r.status_code == 200
    return {o["id"] for o in r.json()["outlets"]}


def test_login_needed(client: TestClient) -> None:
    for path in ("/region", *FRAGMENTS):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_other_roles_are_refused(client: TestClient) -> None:
    login(client, "ent_a")
    for path in ("/region", *FRAGMENTS, "/region/boundaries.geojson"):
        assert client.get(path).status_code == 403, path


def test_admin_sees_everything(client: TestClient, region_world: RegionWorld) -> None:
    login(client, "admin1")
    html = client.get("/region").text
    assert [shown_count(html, n) for n in ("enterprises", "outlets", "devices", "online", "offline")] == [
        3,
        4,
        3,
        2,
        1,
    ]
    assert _outlet_ids(client) == set(region_world.outlets.values())
    # the admin may choose any region
    assert _outlet_ids(client, "?region=44") == {region_world.outlets["B1"]}


def test_regulator_counts_and_map_stay_in_its_region(client: TestClient, region_world: RegionWorld) -> None:
    login(client, "reg_zj")
    r = client.get("/region")
    assert r.status_code == 200
    assert [shown_count(r.text, n) for n in ("enterprises", "outlets", "devices", "online", "offline")] == [
        2,
        3,
        2,
        1,
        1,
    ]
    assert "乙热电" not in r.text
    outlets = client.get("/region/outlets.json").json()["outlets"]
    by_id = {o["id"]: o for o in outlets}
    assert set(by_id) == {region_world.outlets[c] for c in ("A1", "A2", "C1")}
    a1, a2, c1 = (by_id[region_world.outlets[c]] for c in ("A1", "A2", "C1"))
    assert (a1["lat"], a1["lon"], a1["url"]) == (30.3, 120.2, f"/outlets/{a1['id']}")
    assert (a2["lat"], a2["lon"], a2["status"]) == (30.27, 120.15, "no_device")  # 甲's place
    assert (c1["lat"], c1["status"]) == (None, "offline")
    # the outlet without coordinates is listed under the map; the table lists all three
    placeless = r.text.split('id="placeless"', 1)[1].split("</ul>", 1)[0]
    assert f'data-outlet="{c1["id"]}"' in placeless and f'data-outlet="{a1["id"]}"' not in placeless
    table = r.text.split('id="region-outlets"', 1)[1]
    assert len(re.findall(r"<tr data-outlet=", table)) == 3


def test_regulator_may_narrow_but_not_leave_its_region(client: TestClient, region_world: RegionWorld) -> None:
    login(client, "reg_zj")
    assert _outlet_ids(client, "?region=3302") == {region_world.outlets["C1"]}
    r = client.get("/region?region=44")
    assert r.status_code == 403 and 'id="region-error"' in r.text and "乙热电" not in r.text
    assert shown_count(r.text, "enterprises") == 2  # its own region instead
    for path in FRAGMENTS:
        assert client.get(path + "?region=44&group=enterprise").status_code == 403, path
        assert client.get(path + "?region=440103&group=operator").status_code == 403, path
    assert client.get("/region?region=4x").status_code == 422


def test_rankings_follow_the_scope(client: TestClient) -> None:
    login(client, "reg_zj")
    enterprises = client.get("/region/ranking?group=enterprise").text
    names = re.findall(r'<tr data-name="([^"]*)"', enterprises)
    assert "甲化工有限公司" in names and "丙纸业有限公司" in names and "乙热电有限公司" not in names
    operators = client.get("/region/ranking?group=operator").text
    names = re.findall(r'<tr data-name="([^"]*)"', operators)
    # 丙 has no contract: its device is in the "(no operator)" group
    assert set(names) == {"浙运维", "(no operator)"}
    client.cookies.set("lang", "en")
    assert '<td data-label="Operator">(no operator)</td>' in client.get("/region/ranking?group=operator").text
    client.cookies.delete("lang")
    login(client, "admin1")
    names = re.findall(r'<tr data-name="([^"]*)"', client.get("/region/ranking?group=operator").text)
    assert "粤运维" in names
    assert client.get("/region/ranking?group=device").status_code == 422


def test_exceedances_follow_the_scope(client: TestClient, region_world: RegionWorld) -> None:
    if region_world.hours_today == 0:
        pytest.skip("just after midnight China time: no hour of today is over yet")
    login(client, "reg_zj")
    html = client.get("/region/exceedances").text
    mns = set(re.findall(r'<tr data-mn="([^"]+)"', html))
    assert mns == {MN1} and "0.20" in html and "120" in html
    assert shown_count(client.get("/region").text, "exceeding") == 1
    status = {o["id"]: o["status"] for o in client.get("/region/outlets.json").json()["outlets"]}
    assert status[region_world.outlets["A1"]] == "exceeding"
    login(client, "admin1")
    html = client.get("/region/exceedances").text
    assert set(re.findall(r'<tr data-mn="([^"]+)"', html)) == {MN1, MN2}


def test_exceedances_list_the_worst_first_and_say_how_many_more(
    client: TestClient, region_world: RegionWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    if region_world.hours_today == 0:
        pytest.skip("just after midnight China time: no hour of today is over yet")
    login(client, "admin1")
    every = re.findall(r'<tr data-mn="([^"]+)"', client.get("/region/exceedances").text)
    assert len(every) >= 2
    monkeypatch.setattr(region, "EXCEEDANCES_SHOWN", 1)
    html = client.get("/region/exceedances").text
    assert len(re.findall(r'<tr data-mn="', html)) == 1
    assert f'id="exceedances-more">{len(every) - 1} ' in html.replace("今日另有 ", "")
    assert "No exceedance" not in html and "没有超标" not in html


def test_page_loads_fragments_and_assets(client: TestClient) -> None:
    login(client, "reg_zj")
    html = client.get("/region").text
    for frag in (
        "/region/ranking?region=33&amp;group=enterprise",
        "/region/ranking?region=33&amp;group=operator",
    ):
        assert f'hx-get="{frag}"' in html
    assert 'hx-get="/region/exceedances?region=33"' in html
    # no auto refresh on the normal page; every 60 s on the wall screen
    assert 'hx-trigger="every 60s"' not in html
    assert 'hx-trigger="every 60s"' in client.get("/region?screen=1").text
    for ref in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
        assert ref.startswith("/static/") and client.get(ref).status_code == 200, ref
    config = json.loads(html.split('id="region-map-config">', 1)[1].split("</script>", 1)[0])
    assert config["tiles"] is None and config["boundaries"] is None
    assert config["outlets"] == "/region/outlets.json?region=33"
    assert client.get("/region/boundaries.geojson").status_code == 404


def test_english(client: TestClient) -> None:
    login(client, "reg_zj")
    client.cookies.set("lang", "en")
    html = client.get("/region").text
    assert "Regional overview" in html and "Outlets and their status" in html


def test_configured_basemap_and_boundaries(region_world: RegionWorld, tmp_path: Path) -> None:
    boundary = tmp_path / "zj.geojson"
    boundary.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    settings = region_world.settings.model_copy(
        update={
            "map_tiles_url": "https://t{s}.tiles.example.cn/{z}/{x}/{y}.png",
            "map_tiles_attribution": "审图号 GS(2024)0000",
            "map_boundaries_file": boundary,
        }
    )
    with TestClient(create_app(settings, region_world.engine)) as client:
        login(client, "reg_zj")
        r = client.get("/region")
        config = json.loads(r.text.split('id="region-map-config">', 1)[1].split("</script>", 1)[0])
        assert config["tiles"] == "https://t{s}.tiles.example.cn/{z}/{x}/{y}.png"
        assert config["attribution"] == "审图号 GS(2024)0000"
        assert config["boundaries"] == "/region/boundaries.geojson"
        assert "https://t*.tiles.example.cn" in r.headers["content-security-policy"]
        geo = client.get("/region/boundaries.geojson")
        assert geo.status_code == 200 and geo.json()["type"] == "FeatureCollection"
