"""The alarm pages' own world: two enterprises, an operator, and alarms in every state.

甲 (杭州, 330102) has the gas outlet DA001 with device MN_A (SO2 registered); 乙 (广州, 440103) the gas outlet
DA001 with device MN_B. 运维甲 holds a contract on all of 甲 since 2020. Users (``PASSWORD``): admin1, ent_a,
ent_b, op_a (运维甲), fs_a (its field staff), reg_zj (regulator of 浙江: 甲 only), aud_a (auditor of 运维甲 for
January 2025), agency1 (no scope yet).

Alarms raised through ``alarms.store`` (the world's own store; nothing here is shared with other page tests):

- ``exceed_a``: 甲 SO2 exceedance, detected twice (peak 50.5, limit 35, 超标 0.44 倍), points and a maintenance period
  left out of the judgement in its journal; open;
- ``offline_a``: 甲 offline (no factor), opened 5 h ago and past its acknowledgement deadline: escalated;
- ``unknown_a``: 甲, a kind the pages do not know (``mystery_kind``): shown as its code;
- ``closed_a``: 甲 constant SO2 of January 2025 (the auditor's period), closed by op_a with cause and action;
- ``exceed_b``: 乙 SO2 exceedance, open;
- ``PAGED`` closed over-range alarms of 乙, a day apart (the paging of the list).

Tests that change an alarm raise their own with :func:`fresh_alarm`, so the alarms above stay as described.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine

from envwatch.alarms.store import Action, Raised, apply, escalate_overdue, raise_alarm
from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.agencies import create_agency
from envwatch.registry.models import ContractIn, DeviceFactorIn, EnterpriseIn, OperatorIn, OutletIn
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store, serving, set_status

MN_A = "010000A8900016F0009A0001"
MN_B = "010000A8900016F0009B0001"
SO2 = "a21026"
ACK_DUE_S = 3600.0
PAGED = 52  # closed over-range alarms of 乙: two pages for the admin
MAX_BYTES = 4096
SOURCE_HOUR = "EXC-01: hour average above the hour limit (HJ 75-2017 §11; monitoring-rules §5)"
_factors = itertools.count(1)


@dataclass(frozen=True)
class AlarmWorld:
    base_url: str
    settings: Settings
    engine: Engine
    now: datetime
    devices: dict[str, int]
    alarms: dict[str, int]


def _code(n: int) -> str:
    return credit_code(n, "9133010900000")


def _exceedance(device_id: int, start: datetime, peak: str, multiple: str) -> Raised:
    return Raised(
        device_id=device_id,
        kind="exceedance",
        factor=SO2,
        started_at=start,
        ended_at=start + timedelta(hours=1),
        source=SOURCE_HOUR,
        summary=f"{SO2} above the hour limit 35; peak {peak}",
        peak=peak,
        limit_value="35",
        multiple=multiple,
        data={
            "points": [[start.isoformat(), float(peak)], [(start + timedelta(minutes=30)).isoformat(), 36.0]],
            "excluded": [
                {
                    "start": (start - timedelta(hours=2)).isoformat(),
                    "end": (start - timedelta(hours=1)).isoformat(),
                    "mark": "maintenance",
                }
            ],
        },
    )


def fresh_alarm(world: AlarmWorld, mn: str = MN_A, kind: str = "jump") -> int:
    """A new open alarm of ``mn`` (a factor code of its own, so it never repeats another test's alarm)."""
    now = utcnow()
    factor = f"t{next(_factors):05d}"
    raised = Raised(
        world.devices[mn], kind, factor, now - timedelta(hours=2), "test rule (T-1)", "a test jump"
    )
    with world.engine.begin() as conn:
        return raise_alarm(conn, raised, now, ack_due_s=ACK_DUE_S).alarm_id


def _alarms(engine: Engine, ids: dict[str, int], now: datetime) -> dict[str, int]:
    a, b = ids[MN_A], ids[MN_B]
    out: dict[str, int] = {}
    with engine.begin() as conn:
        start = now - timedelta(hours=3)
        out["exceed_a"] = raise_alarm(
            conn, _exceedance(a, start, "48.0", "0.37"), now - timedelta(hours=2), ack_due_s=ACK_DUE_S
        ).alarm_id
        raise_alarm(conn, _exceedance(a, start + timedelta(hours=1), "50.5", "0.44"), now - timedelta(hours=1),
                    ack_due_s=ACK_DUE_S)  # fmt: skip
        offline = Raised(
            a, "offline", "", now - timedelta(hours=5), "SX-20.9/20.10 掉线", "no packet since …"
        )
        out["offline_a"] = raise_alarm(conn, offline, now - timedelta(hours=5), ack_due_s=ACK_DUE_S).alarm_id
        escalate_overdue(conn, now - timedelta(hours=3))  # the offline alarm only: due 4 h ago
        unknown = Raised(a, "mystery_kind", "", now - timedelta(hours=1), "T-0", "a kind of the future")
        out["unknown_a"] = raise_alarm(
            conn, unknown, now - timedelta(minutes=30), ack_due_s=ACK_DUE_S
        ).alarm_id
        january = datetime(2025, 1, 10, 2, 0, tzinfo=UTC)
        flat = Raised(
            a, "constant", SO2, january - timedelta(hours=6), "monitoring-rules §6 恒值", "flat SO2"
        )
        out["closed_a"] = raise_alarm(conn, flat, january, ack_due_s=ACK_DUE_S).alarm_id
        apply(
            conn,
            out["closed_a"],
            Action("close", cause="分析仪采样管堵塞", action="疏通采样管并校准"),
            actor="op_a",
            now=january + timedelta(days=1),
        )
        out["exceed_b"] = raise_alarm(
            conn, _exceedance(b, start, "60.0", "0.71"), now - timedelta(hours=2), ack_due_s=ACK_DUE_S
        ).alarm_id
        for n in range(PAGED):
            opened = now - timedelta(days=n + 2)
            raised = Raised(b, "over_range", SO2, opened, "VAL-02 超量程", f"over range #{n}")
            alarm_id = raise_alarm(conn, raised, opened, ack_due_s=ACK_DUE_S).alarm_id
            apply(
                conn,
                alarm_id,
                Action("close", cause="量程设置", action="调整量程"),
                actor="admin1",
                now=opened,
            )
    return out


def populate(engine: Engine) -> tuple[dict[str, int], dict[str, int], datetime]:
    now = utcnow()
    ids = add_devices(engine, [device_row(MN_A), device_row(MN_B)], now)
    since = date(2020, 1, 1)
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
            svc.upsert_device_factors(conn, mn, [DeviceFactorIn(factor=SO2, unit="mg/m3")], now)
            ents.append(ent["id"])
        set_status(conn, {ids[MN_A]: True, ids[MN_B]: False}, now)
        operator = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=_code(3)), now)
        ops.create_contract(
            conn, operator["id"], ContractIn(enterprise_id=ents[0], contract_no="HT-A", valid_from=since), now
        )
        users: list[tuple[str, dict[str, object]]] = [
            ("admin1", {"role": "admin"}),
            ("ent_a", {"role": "enterprise", "enterprise_id": ents[0], "display_name": "甲环保专员"}),
            ("ent_b", {"role": "enterprise", "enterprise_id": ents[1]}),
            ("op_a", {"role": "operator", "operator_id": operator["id"]}),
            ("fs_a", {"role": "field_staff", "operator_id": operator["id"]}),
            ("reg_zj", {"role": "regulator", "region_code": "330000"}),
            (
                "aud_a",
                {
                    "role": "auditor",
                    "operator_id": operator["id"],
                    "period_from": date(2025, 1, 1),
                    "period_to": date(2025, 1, 31),
                },
            ),
            ("agency1", {"role": "agency", "agency_id": _agency(conn, now)}),
        ]
        create_users(conn, users, now)
    return ids, _alarms(engine, ids, now), now


def _agency(conn: Connection, now: datetime) -> int:
    """A testing agency for the agency account (it sees no alarms: no monitoring data)."""
    fields = {
        "name": "某检测",
        "credit_code": credit_code(981, "9133010200098"),
        "code": "JC",
        "region_code": "330102",
    }
    return int(create_agency(conn, fields, now)["id"])


@pytest.fixture(scope="session")
def alarm_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlarmWorld]:
    with fresh_store(tmp_path_factory.mktemp("alarms") / "var", max_attachment_bytes=MAX_BYTES) as (
        settings,
        engine,
    ):
        ids, alarms, now = populate(engine)
        with serving(settings, engine) as url:
            yield AlarmWorld(url, settings, engine, now, ids, alarms)
