"""The staff and training pages' own world (nothing here is shared with other page tests).

Registry: 甲 (杭州 330102) looked after by 运维甲 (operator ``a``), 乙 (广州 440103) by 运维乙 (``b``), both since
2020. Personnel files (``staff``), today = ``TODAY`` (China):

- 运维甲: 张三 field engineer (certificate valid for 2 more years), 李四 sampler (certificate's last day in
  ``EXPIRING_IN`` days), 王五 sampler (certificate ended yesterday), 赵六 sampler who left (none);
- 运维乙: 钱七 field engineer (valid).

Trainings (``trainings``) of 运维甲: ``quarterly`` held today (张三 passed with 90, 李四 failed with 50),
``labels`` (sample-label system) held today (李四 passed with 95), ``other`` held today (no results), ``plan``
planned in 10 days; of 运维乙:
``quarterly_b`` held today.

Users (``PASSWORD``): admin1, reg_zj (浙江 33), reg_gd (广东 44), op_a, fs_a (field staff of 运维甲), op_b,
ent_a (甲's enterprise user), aud_a (auditor of 运维甲). Tests that change things make their own objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.operations import staff as staff_store
from envwatch.operations import trainings as training_store
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn
from envwatch.web.app import create_app
from envwatch.web.scope import china_today
from tests.web.pages.conftest import create_users, credit_code, fresh_store, serving
from tests.web.pages.test_pages import login

TODAY = china_today()
DAY = timedelta(days=1)
EXPIRING_IN = 5


@dataclass(frozen=True)
class StaffWorld:
    settings: Settings
    engine: Engine
    operators: dict[str, int]
    staff: dict[str, int]
    trainings: dict[str, int]
    base_url: str = ""  # the app under uvicorn (browser tests)


def _code(n: int) -> str:
    return credit_code(n, "9133010900000")


def _build(engine: Engine) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    now = utcnow()
    operators: dict[str, int] = {}
    with engine.begin() as conn:
        for n, (key, name, region) in enumerate(
            (("a", "甲化工有限公司", "330102"), ("b", "乙热电有限公司", "440103")), start=1
        ):
            ent = svc.create_enterprise(
                conn, EnterpriseIn(name=name, credit_code=_code(n), region_code=region), now
            )
            op = ops.create_operator(conn, OperatorIn(name=f"运维{name[0]}", credit_code=_code(n + 10)), now)
            ops.create_contract(
                conn,
                op["id"],
                ContractIn(enterprise_id=ent["id"], contract_no=f"HT-{key}", valid_from=date(2020, 1, 1)),
                now,
            )
            operators[key] = op["id"]
            operators[f"ent_{key}"] = ent["id"]
        people = {
            "张三": ("a", "field_engineer", TODAY + 730 * DAY),
            "李四": ("a", "sampler", TODAY + EXPIRING_IN * DAY),
            "王五": ("a", "sampler", TODAY - DAY),
            "赵六": ("a", "sampler", None),
            "钱七": ("b", "field_engineer", TODAY + 400 * DAY),
        }
        staff: dict[str, int] = {}
        for name, (key, position, valid_until) in people.items():
            sid = staff_store.add_staff(
                conn, operator_id=operators[key], name=name, position=position, phone="13800138000", now=now
            )["id"]
            staff[name] = sid
            if valid_until is not None:
                staff_store.add_certificate(
                    conn, sid, kind="运维上岗证（废气）", number=f"CERT-{name}", issuer="环境监测协会",
                    issued_on=TODAY - 700 * DAY, valid_until=valid_until, recorded_by="op_a", now=now,
                )  # fmt: skip
        staff_store.update_staff(conn, staff["赵六"], {"active": False}, now=now)

        def held(key: str, kind: str, title: str) -> int:
            plan = training_store.plan_training(
                conn, operator_id=operators[key], kind=kind, title=title, planned_on=TODAY, pass_score="60",
                recorded_by="op_a", now=now,
            )  # fmt: skip
            return int(
                training_store.record_held(conn, plan["id"], held_on=TODAY, recorded_by="op_a", now=now)["id"]
            )

        trainings = {
            "quarterly": held("a", "quarterly", "本季度再培训"),
            "labels": held("a", "sampling_label", "采样标签系统培训"),
            "quarterly_b": held("b", "quarterly", "乙的季度培训"),
            "other": held("a", "other", "设备操作培训"),  # the browser test's: counts for no coverage
        }
        trainings["plan"] = training_store.plan_training(
            conn, operator_id=operators["a"], kind="emergency", title="应急演练培训", planned_on=TODAY + 10 * DAY,
            pass_score="70", recorded_by="op_a", now=now,
        )["id"]  # fmt: skip
        for training, name, score in (
            ("quarterly", "张三", "90"),
            ("quarterly", "李四", "50"),
            ("labels", "李四", "95"),
        ):
            training_store.add_result(
                conn, trainings[training], staff_id=staff[name], score=score, tested_on=TODAY,
                recorded_by="op_a", now=now,
            )  # fmt: skip
        create_users(
            conn,
            [
                ("admin1", {"role": "admin"}),
                ("reg_zj", {"role": "regulator", "region_code": "330000"}),
                ("reg_gd", {"role": "regulator", "region_code": "440000"}),
                ("op_a", {"role": "operator", "operator_id": operators["a"]}),
                ("fs_a", {"role": "field_staff", "operator_id": operators["a"]}),
                ("fs_a2", {"role": "field_staff", "operator_id": operators["a"]}),
                ("op_b", {"role": "operator", "operator_id": operators["b"]}),
                ("ent_a", {"role": "enterprise", "enterprise_id": operators["ent_a"]}),
                (
                    "aud_a",
                    {
                        "role": "auditor",
                        "operator_id": operators["a"],
                        "period_from": TODAY - 30 * DAY,
                        "period_to": TODAY,
                    },
                ),
            ],
            now,
        )
    return operators, staff, trainings


@pytest.fixture(scope="session")
def staff_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaffWorld]:
    with fresh_store(tmp_path_factory.mktemp("om_staff") / "var") as (settings, engine):
        built = _build(engine)
        with serving(settings, engine) as url:
            yield StaffWorld(settings, engine, *built, base_url=url)


@pytest.fixture
def client(staff_world: StaffWorld) -> Iterator[TestClient]:
    with TestClient(create_app(staff_world.settings, staff_world.engine), cookies={"lang": "en"}) as c:
        yield c


def as_user(client: TestClient, username: str) -> str:
    """Log ``username`` in on ``client``; the session's CSRF token."""
    login(client, username)
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)
