"""The admin pages' own world: the shared ``populate`` (two enterprises, three devices, admin1 and ent_a)
on a fresh store per test module, plus a regulator, an HJ 212-2025 device (SM4 keys) and an operator."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.registry import service_operators as ops
from envwatch.registry.models import OperatorIn
from envwatch.registry.store import import_devices
from envwatch.web.app import create_app
from tests.helpers import device_row
from tests.web.pages.conftest import PASSWORD, create_users, fresh_store, populate, serving
from tests.web.pages.conftest import credit_code as shared_credit_code

MN_2025 = "010000A8900016F0002D0001"  # an unplaced HJ 212-2025 logger: SM4 keys
NON_ADMINS = ("ent_a", "reg_zj", "op_a")


@dataclass(frozen=True)
class AdminWorld:
    settings: Settings
    engine: Engine
    enterprise_a: int
    enterprise_b: int
    operator: int


def credit_code(n: int) -> str:
    """A valid 统一社会信用代码 numbered ``n`` (other than the shared world's 1 and 2)."""
    return shared_credit_code(n, "9135010200000")


def build_world(settings: Settings, engine: Engine) -> AdminWorld:
    ent_a, ent_b = populate(engine)
    now = utcnow()
    import_devices(engine, [device_row(MN_2025, protocol="2025")], now)
    with engine.begin() as conn:
        op = ops.create_operator(conn, OperatorIn(name="丙运维有限公司", credit_code=credit_code(900)), now)
        users: list[tuple[str, dict[str, Any]]] = [
            ("reg_zj", {"role": "regulator", "region_code": "33"}),
            ("op_a", {"role": "operator", "operator_id": op["id"]}),
        ]
        create_users(conn, users, now)
    return AdminWorld(settings, engine, ent_a, ent_b, op["id"])


@pytest.fixture(scope="module")
def aworld(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminWorld]:
    with fresh_store(tmp_path_factory.mktemp("admin") / "var") as (settings, engine):
        yield build_world(settings, engine)


@pytest.fixture(scope="module")
def served(aworld: AdminWorld) -> Iterator[str]:
    """The app under uvicorn (browser tests)."""
    with serving(aworld.settings, aworld.engine) as url:
        yield url


def login(client: TestClient, username: str) -> str:
    """Log in through the page; returns the session's CSRF token (English pages: the new strings are
    not in the catalogs until they are merged)."""
    client.cookies.set("lang", "en")
    r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def admin(aworld: AdminWorld) -> Iterator[tuple[TestClient, str]]:
    with TestClient(create_app(aworld.settings, aworld.engine)) as client:
        yield client, login(client, "admin1")
