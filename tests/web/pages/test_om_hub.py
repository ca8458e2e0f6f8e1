"""The O&M hub page (/om): each role sees the sections it may open, the agency none (no data scope)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from envwatch.web.app import create_app
from envwatch.web.pages.om_page import SECTIONS
from tests.web.pages.conftest import PASSWORD, World


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, world.engine)) as c:
        yield c


def login(client: TestClient, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_sections_by_role(client: TestClient) -> None:
    login(client, "ent_a")
    html = client.get("/om").text
    shown = re.findall(r'data-section="([^"]+)"', html)
    assert shown == [s.path for s in SECTIONS if "enterprise" in s.roles]
    assert "/om/staff" not in shown  # an enterprise does not see an operator's personnel files
    assert "运维" in html


def test_without_login_redirects(client: TestClient) -> None:
    r = client.get("/om", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
