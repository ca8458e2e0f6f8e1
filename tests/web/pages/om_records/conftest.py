"""The field-record pages' own world (nothing shared with other page tests), on the real clock.

Registry, staff and materials: ``tests/operations/records_world`` built around now (甲 330102 with a gas
device at a known position and a water device, 乙 440103 with one gas device; 运维甲 on all of 甲, 运维乙
on 乙; 张三 certified, 李四's certificate expired 22 days ago; materials ``so2`` valid, ``old`` expired).
孙七 (``fs_a``'s staff record) is certified too.

Users (``PASSWORD``): admin1, reg_zj (浙江 33), reg_gd (广东 44), ent_a, ent_b, op_a and fs_a (运维甲),
op_b (运维乙).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from tests.operations.records_world import RecordsWorld, add_staff, build
from tests.web.pages.conftest import create_users, fresh_store, serving
from tests.web.pages.test_pages import login

MAX_BYTES = 64 * 1024  # a small attachment limit: "too big" is cheap to test


@dataclass(frozen=True)
class PageWorld:
    base_url: str
    settings: Settings
    engine: Engine
    now: datetime
    w: RecordsWorld
    fs_staff: int  # 孙七, fs_a's staff record


@pytest.fixture(scope="session")
def records_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageWorld]:
    with fresh_store(tmp_path_factory.mktemp("om_records") / "var", max_attachment_bytes=MAX_BYTES) as (
        settings,
        engine,
    ):
        now = utcnow()
        w = build(engine, now)
        today = now.date()
        with engine.begin() as conn:
            fs_staff = add_staff(
                conn,
                w.op,
                "孙七",
                valid=(today - timedelta(days=30), today + timedelta(days=30)),
                username="fs_a",
            )
            create_users(
                conn,
                [
                    ("admin1", {"role": "admin"}),
                    ("reg_zj", {"role": "regulator", "region_code": "330000"}),
                    ("reg_gd", {"role": "regulator", "region_code": "440000"}),
                    ("ent_a", {"role": "enterprise", "enterprise_id": w.enterprises["jia"]}),
                    ("ent_b", {"role": "enterprise", "enterprise_id": w.enterprises["yi"]}),
                    ("op_a", {"role": "operator", "operator_id": w.op}),
                    ("fs_a", {"role": "field_staff", "operator_id": w.op}),
                    ("op_b", {"role": "operator", "operator_id": w.other_op}),
                ],
                now,
            )
        with serving(settings, engine) as url:
            yield PageWorld(url, settings, engine, now, w, fs_staff)


@pytest.fixture
def client(records_world: PageWorld) -> Iterator[TestClient]:
    # English: the strings are the msgids whether or not .i18n/om_records.json is merged yet
    with TestClient(create_app(records_world.settings, records_world.engine), cookies={"lang": "en"}) as c:
        yield c


def as_user(client: TestClient, username: str) -> str:
    """Log ``username`` in on ``client``; the session's CSRF token."""
    login(client, username)
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)


def local(moment: datetime) -> str:
    """A datetime-local form value (China time)."""
    return to_china(moment).strftime("%Y-%m-%dT%H:%M")
