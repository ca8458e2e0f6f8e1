"""The outlet's service zone (服务区域) in the registry administration and the registry API: shown in the
list and the forms with the Chinese labels 城区 / 郊区 / 偏远, stored on create and edit, refused when unknown."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.registry.schema import outlets
from envwatch.web.app import create_app
from tests.web.pages.admin.conftest import AdminWorld
from tests.web.pages.admin.test_admin_registry import _outlet_id, _problem

Admin = tuple[TestClient, str]


def _zone(aworld: AdminWorld, outlet_id: int) -> str:
    with aworld.engine.connect() as conn:
        return str(conn.execute(select(outlets.c.service_zone).where(outlets.c.id == outlet_id)).scalar_one())


def test_create_and_edit_an_outlet_with_its_zone(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    form = {
        "csrf_token": token,
        "enterprise_id": str(aworld.enterprise_a),
        "code": "DA077",
        "name": "偏远排口",
        "kind": "gas",
        "service_zone": "remote",
    }
    assert client.post("/admin/registry/outlets", data=form, follow_redirects=False).status_code == 303
    outlet_id = _outlet_id(aworld, aworld.enterprise_a, "DA077")
    assert _zone(aworld, outlet_id) == "remote"
    # the edit form has the zone chosen; an edit changes it
    page = client.get("/admin/registry/outlets").text
    chosen = re.findall(r'<option value="(\w+)" selected>', page)
    assert "remote" in chosen
    edit = {
        "csrf_token": token,
        "code": "DA077",
        "name": "偏远排口",
        "kind": "gas",
        "service_zone": "suburban",
    }
    r = client.post(f"/admin/registry/outlets/{outlet_id}", data=edit, follow_redirects=False)
    assert r.status_code == 303 and _zone(aworld, outlet_id) == "suburban"
    # an unknown zone: the model's message under the page's lead-in, nothing changed
    r = client.post(f"/admin/registry/outlets/{outlet_id}", data=edit | {"service_zone": "downtown"})
    assert r.status_code == 422
    assert _problem(r.text) == (
        "The outlet was not saved: service_zone: 'downtown' is not a service zone: give urban (城区), "
        "suburban (郊区) or remote (偏远)"
    )
    assert _zone(aworld, outlet_id) == "suburban"


def test_the_chinese_page_shows_the_zone_labels(admin: Admin) -> None:
    client, _token = admin
    client.cookies.set("lang", "zh_CN")
    page = html.unescape(client.get("/admin/registry/outlets").text)
    assert "服务区域" in page
    for value, label in (("urban", "城区"), ("suburban", "郊区"), ("remote", "偏远")):
        assert re.search(rf'<option value="{value}"( selected)?>{label}</option>', page), value
    # the list column shows the label, not the code
    assert '<td data-label="服务区域">城区</td>' in page


def test_the_registry_api_takes_and_refuses_zones(aworld: AdminWorld) -> None:
    app = create_app(aworld.settings, aworld.engine)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        api = "/api/v1/registry"
        r = client.post(
            f"{api}/enterprises/{aworld.enterprise_b}/outlets",
            json={"code": "DW050", "name": "郊区排口", "kind": "water", "service_zone": "suburban"},
        )
        assert r.status_code == 201 and r.json()["service_zone"] == "suburban", r.text
        outlet_id = r.json()["id"]
        r = client.patch(f"{api}/outlets/{outlet_id}", json={"service_zone": "offshore"})
        assert r.status_code == 422
        assert r.json()["detail"] == (
            "service_zone: 'offshore' is not a service zone: give urban (城区), suburban (郊区) or remote (偏远)"
        )
        assert client.get(f"{api}/outlets/{outlet_id}").json()["service_zone"] == "suburban"
