"""The self-inspection report pages' own world.

甲 (杭州 330102) and 乙 (广州 440103), one gas outlet and device each; 运维甲 holds a contract on all of 甲 since
2020. 甲 submitted its report of the last finished quarter (``report_a``, by ent_a, now: after the due date of
that quarter unless the quarter ended less than the due days ago). Users (``PASSWORD``): admin1, reg_zj (浙江
33), ent_a, ent_b, op_a (运维甲), fs_a (field staff of 运维甲).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn
from envwatch.reports.quarters import Quarter, last_finished
from envwatch.reports.self_inspection_store import submit
from envwatch.web.app import create_app
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store
from tests.web.pages.test_pages import login

MN_A = "010000A8900016F0009A0001"
MN_B = "010000A8900016F0009B0001"


@dataclass(frozen=True)
class ReportWorld:
    settings: Settings
    engine: Engine
    jia: int
    yi: int
    report_a: int
    last: Quarter


def _code(n: int) -> str:
    return credit_code(n, "9133010900000")


@pytest.fixture(scope="session")
def report_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportWorld]:
    with fresh_store(tmp_path_factory.mktemp("om_reports") / "var") as (settings, engine):
        now = utcnow()
        add_devices(engine, [device_row(MN_A), device_row(MN_B)], now)
        last = last_finished(now)
        with engine.begin() as conn:
            ents = []
            for n, (name, region, mn) in enumerate(
                (("甲化工有限公司", "330102", MN_A), ("乙热电有限公司", "440103", MN_B)), start=1
            ):
                ent = svc.create_enterprise(
                    conn, EnterpriseIn(name=name, credit_code=_code(n), region_code=region), now
                )
                outlet = svc.create_outlet(
                    conn, ent["id"], OutletIn(code="DA001", name="1号排口", kind="gas"), now
                )
                svc.set_device_outlet(conn, mn, outlet["id"], now)
                ents.append(ent["id"])
            op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=_code(10)), now)["id"]
            ops.create_contract(
                conn,
                op,
                ContractIn(enterprise_id=ents[0], contract_no="HT-A", valid_from=date(2020, 1, 1)),
                now,
            )
            report = submit(
                conn, BlobStore.from_settings(settings), settings, enterprise_id=ents[0], year=last.year,
                quarter=last.quarter, note="甲的自查", by="ent_a", now=now,
            )  # fmt: skip
            create_users(
                conn,
                [
                    ("admin1", {"role": "admin"}),
                    ("reg_zj", {"role": "regulator", "region_code": "330000"}),
                    ("ent_a", {"role": "enterprise", "enterprise_id": ents[0]}),
                    ("ent_b", {"role": "enterprise", "enterprise_id": ents[1]}),
                    ("op_a", {"role": "operator", "operator_id": op}),
                    ("fs_a", {"role": "field_staff", "operator_id": op}),
                ],
                now,
            )
        yield ReportWorld(settings, engine, ents[0], ents[1], report["id"], last)


@pytest.fixture
def client(report_world: ReportWorld) -> Iterator[TestClient]:
    # English: the new strings reach the Chinese catalog only when .i18n/om_reports.json is merged
    with TestClient(create_app(report_world.settings, report_world.engine), cookies={"lang": "en"}) as c:
        yield c


def as_user(client: TestClient, username: str) -> str:
    """Log ``username`` in on ``client``; the session's CSRF token."""
    login(client, username)
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)
