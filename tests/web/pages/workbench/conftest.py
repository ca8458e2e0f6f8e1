"""The workbench's own test world (运维工作台): two operators, four enterprises, served by the real app
(``serving``) on a fresh SQLite store.

- 甲 (whole-enterprise contract with 运维甲): A1 device MN_A1 offline for 3 h, no data; A2 device MN_A2 online,
  SO2/NOx/PM hour records for the last 3 completed hours, the newest flagged C (invalid), three open
  fault marks (SX-30.6 flag) and one open maintenance mark; two major-change filings, one due, one overdue.
- 丁 (contract with 运维甲 for outlet D1 only): D1 device MN_D1 online, valid hours; D2 device MN_D2 offline (not
  contracted: never shown to 运维甲).
- 丙 (contract with 运维甲 that ended yesterday): C1 device MN_C offline, a fault mark, a due filing.
- 乙 (contract with 运维乙 only): B1 device MN_B offline, invalid hours, fault marks, a due filing.

Users (``PASSWORD``): admin1, op_a (operator 运维甲), fs_a (its field staff), op_b (operator 运维乙), ent_a
(enterprise 甲), reg (regulator of 33).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.monitoring.day_counts import hour_floor
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark
from envwatch.monitoring.schema import measurements
from envwatch.monitoring.workbench import month_start
from envwatch.registry import filings
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn
from envwatch.web.scope import china_today
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store, serving, set_status

MN_A1 = "010000A8900016F0003A0001"  # 甲 A1: offline 3 h
MN_A2 = "010000A8900016F0003A0002"  # 甲 A2: online, last hour invalid, open marks
MN_D1 = "010000A8900016F0003D0001"  # 丁 D1 (contracted outlet): online
MN_D2 = "010000A8900016F0003D0002"  # 丁 D2 (not contracted): offline
MN_C = "010000A8900016F0003C0001"  # 丙 (contract ended yesterday): offline
MN_B = "010000A8900016F0003B0001"  # 乙 (运维乙's only): offline
FOREIGN = (MN_D2, MN_C, MN_B)  # never on 运维甲's workbench
GAS = ("a21026", "a21002", "a34013")  # the default rated gas factors
OFFLINE_FOR = timedelta(hours=3)


@dataclass(frozen=True)
class WorkbenchWorld:
    base_url: str
    settings: Settings
    engine: Engine
    now: datetime
    operators: dict[str, int]
    filings: dict[str, int]


def _code(n: int) -> str:
    return credit_code(n, "9133010600000")


def _hours(conn: Any, device_id: int, now: datetime, newest: str = "C") -> None:
    """SO2, NOx and PM hour records for the last three completed hours, the newest flagged ``newest``."""
    last = hour_floor(now)
    for n in (1, 2, 3):
        flag = newest if n == 1 else "N"
        conn.execute(
            insert(measurements).values(
                device_id=device_id, kind="hour", data_time=last - timedelta(hours=n), part=0,
                factors={f: {"Avg": "12.5", "Flag": flag} for f in GAS}, packet_id=device_id * 100 + n,
                backfill=False, received_at=now,
            )
        )  # fmt: skip


def _mark(conn: Any, device_id: int, code: str, start: datetime, end: datetime, now: datetime) -> None:
    draft = MarkDraft(factor=None, start=start, end=end, code=code, reason="现场故障", source="operator")
    create_mark(conn, device_id, draft, created_by="op_a", now=now, policy=MarkPolicy())


def _filing(conn_engine: Engine, ent: int, title: str, event_at: datetime, now: datetime) -> int:
    row = filings.create_filing(
        conn_engine, kind="major_change", enterprise_id=ent, title=title, event_at=event_at,
        created_by="ent", now=now,
    )  # fmt: skip
    return int(row["id"])


def populate_workbench(engine: Engine, now: datetime) -> tuple[dict[str, int], dict[str, int]]:
    mns = (MN_A1, MN_A2, MN_D1, MN_D2, MN_C, MN_B)
    ids = add_devices(engine, [device_row(mn) for mn in mns], now)
    today = china_today()
    # marks this month that are still open: they start at most 5 h ago, never before the month began
    opened = max(month_start(now), now - timedelta(hours=5))
    with engine.begin() as conn:
        ents, outs = {}, {}
        for n, (key, name) in enumerate(
            (("A", "甲化工"), ("D", "丁制药"), ("C", "丙纸业"), ("B", "乙热电")), 1
        ):
            data = EnterpriseIn(name=f"{name}有限公司", credit_code=_code(n), region_code="330106")
            ents[key] = int(svc.create_enterprise(conn, data, now)["id"])
        for key, ent, code in (("A1", "A", "DA001"), ("A2", "A", "DA002"), ("D1", "D", "DA001"),
                               ("D2", "D", "DA002"), ("C1", "C", "DA001"), ("B1", "B", "DA001")):  # fmt: skip
            outs[key] = int(
                svc.create_outlet(conn, ents[ent], OutletIn(code=code, name=f"{key}排口", kind="gas"), now)[
                    "id"
                ]
            )
        for mn, out in (
            (MN_A1, "A1"),
            (MN_A2, "A2"),
            (MN_D1, "D1"),
            (MN_D2, "D2"),
            (MN_C, "C1"),
            (MN_B, "B1"),
        ):
            svc.set_device_outlet(conn, mn, outs[out], now)
        op_a = int(ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=_code(10)), now)["id"])
        op_b = int(ops.create_operator(conn, OperatorIn(name="运维乙", credit_code=_code(11)), now)["id"])
        start = today - timedelta(days=400)
        contracts = (
            (op_a, ContractIn(enterprise_id=ents["A"], contract_no="HT-A", valid_from=start)),
            (op_a, ContractIn(enterprise_id=ents["D"], outlet_id=outs["D1"], contract_no="HT-D", valid_from=start)),
            (op_a, ContractIn(enterprise_id=ents["C"], contract_no="HT-C", valid_from=start,
                              valid_to=today - timedelta(days=1))),
            (op_b, ContractIn(enterprise_id=ents["B"], contract_no="HT-B", valid_from=start)),
        )  # fmt: skip
        for op, contract in contracts:
            ops.create_contract(conn, op, contract, now)
        online = {MN_A2: True, MN_D1: True}
        set_status(conn, {ids[mn]: online.get(mn, False) for mn in mns}, now - OFFLINE_FOR)
        for mn in (MN_A2, MN_B, MN_C, MN_D2):
            _hours(conn, ids[mn], now)
        _hours(conn, ids[MN_D1], now, newest="N")
        for mn in (MN_A2, MN_B, MN_C, MN_D2):
            for n in (1, 2, 3):
                _mark(conn, ids[mn], "fault", opened, now + timedelta(hours=n), now)
        _mark(conn, ids[MN_A2], "maintenance", opened, now + timedelta(hours=4), now)
        users: list[tuple[str, dict[str, Any]]] = [
            ("admin1", {"role": "admin"}),
            ("op_a", {"role": "operator", "operator_id": op_a, "display_name": "运维甲主管"}),
            ("fs_a", {"role": "field_staff", "operator_id": op_a, "display_name": "现场张工"}),
            ("op_b", {"role": "operator", "operator_id": op_b}),
            ("ent_a", {"role": "enterprise", "enterprise_id": ents["A"]}),
            ("reg", {"role": "regulator", "region_code": "330000"}),
        ]
        create_users(conn, users, now)
    made = {
        "A_due": _filing(engine, ents["A"], "甲 1号炉 分析仪更换", now - timedelta(days=1), now),
        "A_overdue": _filing(engine, ents["A"], "甲 2号炉 采样点迁移", now - timedelta(days=10), now),
        "C_due": _filing(engine, ents["C"], "丙 分析仪更换", now - timedelta(days=1), now),
        "B_due": _filing(engine, ents["B"], "乙 分析仪更换", now - timedelta(days=1), now),
    }
    return {"A": op_a, "B": op_b}, made


@pytest.fixture(scope="session")
def workbench_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkbenchWorld]:
    with fresh_store(tmp_path_factory.mktemp("workbench") / "var") as (settings, engine):
        now = utcnow()
        operators, made = populate_workbench(engine, now)
        with serving(settings, engine) as url:
            yield WorkbenchWorld(url, settings, engine, now, operators, made)
