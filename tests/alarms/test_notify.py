"""Who is told (audience from the registry) and the outbox rows ``announce`` writes, on a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, insert, select

from envwatch.alarms.notify import NOBODY, Audience, announce, audience_for_device, audience_for_enterprise
from envwatch.alarms.notify_schema import notifications, notify_targets
from envwatch.alarms.notify_targets import add_target, deactivate_target
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char
from tests.helpers import GAS_MN, SM4_MN, WATER_MN, register_demo_devices

NOW = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


def code(n: int) -> str:
    first17 = f"9135010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def build_registry(engine: Engine) -> dict[str, int]:
    """Plant A (福州 鼓楼区 350102: gas outlet with the gas logger, water outlet with the water logger) and
    plant B (广州 440103); operator 1 looks after all of A in 2026H1, operator 2 A's water outlet from April,
    operator 3 plant B. The SM4 logger sits on no outlet."""
    devices = register_demo_devices(engine)
    with engine.begin() as conn:
        a = svc.create_enterprise(
            conn, EnterpriseIn(name="甲厂", credit_code=code(1), region_code="350102"), NOW
        )
        b = svc.create_enterprise(
            conn, EnterpriseIn(name="乙厂", credit_code=code(2), region_code="440103"), NOW
        )
        gas = svc.create_outlet(conn, a["id"], OutletIn(code="DA001", name="脱硫出口", kind="gas"), NOW)
        water = svc.create_outlet(conn, a["id"], OutletIn(code="DW001", name="总排口", kind="water"), NOW)
        b_gas = svc.create_outlet(conn, b["id"], OutletIn(code="DA001", name="锅炉", kind="gas"), NOW)
        svc.set_device_outlet(conn, GAS_MN, gas["id"], NOW)
        svc.set_device_outlet(conn, WATER_MN, water["id"], NOW)
        op = [
            ops.create_operator(conn, OperatorIn(name=f"运维{i}", credit_code=code(50 + i)), NOW)["id"]
            for i in (1, 2, 3)
        ]

        def contract(operator_id: int, **fields: Any) -> None:
            ops.create_contract(conn, operator_id, ContractIn(**fields), NOW)

        contract(
            op[0],
            enterprise_id=a["id"],
            contract_no="C1",
            valid_from=date(2026, 1, 1),
            valid_to=date(2026, 6, 30),
        )
        contract(
            op[1], enterprise_id=a["id"], outlet_id=water["id"], contract_no="C2", valid_from=date(2026, 4, 1)
        )
        contract(
            op[2], enterprise_id=b["id"], outlet_id=b_gas["id"], contract_no="C3", valid_from=date(2026, 1, 1)
        )
    return {
        "a": a["id"],
        "b": b["id"],
        "op1": op[0],
        "op2": op[1],
        "op3": op[2],
        "gas_device": devices[GAS_MN],
        "water_device": devices[WATER_MN],
        "loose_device": devices[SM4_MN],
    }


def test_audience_for_device_follows_contract_days(engine: Engine) -> None:
    r = build_registry(engine)
    with engine.connect() as conn:

        def operators_of(device: str, day: date) -> tuple[int, ...]:
            aud = audience_for_device(conn, r[device], day)
            assert (aud.enterprise_id, aud.region_code) == (r["a"], "350102")
            return aud.operator_ids

        assert operators_of("gas_device", date(2025, 12, 31)) == ()  # before any contract
        assert operators_of("gas_device", date(2026, 1, 1)) == (r["op1"],)  # first day in force
        assert operators_of("gas_device", date(2026, 6, 30)) == (r["op1"],)  # last day in force
        assert operators_of("gas_device", date(2026, 7, 1)) == ()
        assert operators_of("water_device", date(2026, 3, 31)) == (r["op1"],)
        assert operators_of("water_device", date(2026, 4, 1)) == (r["op1"], r["op2"])
        assert operators_of("water_device", date(2026, 7, 1)) == (r["op2"],)
        assert audience_for_device(conn, r["loose_device"], date(2026, 5, 1)) == NOBODY
        assert audience_for_device(conn, 999, date(2026, 5, 1)) == NOBODY

        assert audience_for_enterprise(conn, r["a"], date(2026, 5, 1)) == Audience(
            r["a"], (r["op1"], r["op2"]), "350102"
        )
        assert audience_for_enterprise(conn, r["a"], date(2026, 7, 1)).operator_ids == (r["op2"],)
        assert audience_for_enterprise(conn, r["b"], date(2026, 5, 1)) == Audience(
            r["b"], (r["op3"],), "440103"
        )
        assert audience_for_enterprise(conn, 999, date(2026, 5, 1)) == NOBODY


def test_scopes() -> None:
    assert Audience(7, (3, 2, 3), "350102").scopes() == [
        "enterprise:7",
        "operator:2",
        "operator:3",
        "region:350102",
    ]
    assert NOBODY.scopes() == []


def rows(conn: Connection) -> list[tuple[str, str]]:
    query = select(notifications.c.channel, notifications.c.recipient).order_by(notifications.c.id)
    return [(r.channel, r.recipient) for r in conn.execute(query)]


def test_announce_writes_inapp_and_matching_targets(engine: Engine) -> None:
    r = build_registry(engine)
    with engine.begin() as conn:

        def target(channel: str, address: str, **kw: Any) -> int:
            return int(
                add_target(conn, channel=channel, address=address, created_by="admin", now=NOW, **kw)["id"]
            )

        target("email", "duty@a.example", enterprise_id=r["a"], topics="alarm")
        target("email", "boss@a.example", enterprise_id=r["a"], topics="order")  # another topic
        gone = target("email", "old@a.example", enterprise_id=r["a"])
        deactivate_target(conn, gone)
        target("sms", "13800138001", operator_id=r["op1"])  # all topics
        target("sms", "13800138002", operator_id=r["op2"], topics="alarm,order")
        target("sms", "13800138003", operator_id=r["op3"])  # not under contract for A
        target("webhook", "https://fz.example/hook", region_code="3501")  # 福州市 ⊃ 350102
        target("email", "duty@a.example", region_code="350102")  # the same address again: one row
        target("email", "fj@gov.example", region_code="35")  # 福建省
        target("webhook", "https://xm.example/hook", region_code="3502")  # 厦门: not A's region
        target("webhook", "https://gz.example/hook", region_code="4401")
        target("email", "duty@b.example", enterprise_id=r["b"])
        # a region target written as a 6-digit code (350100 = 福州市 itself) means its prefix
        conn.execute(
            insert(notify_targets).values(
                region_code="350100",
                channel="sms",
                address="13900000000",
                topics="",
                active=True,
                created_by="seed",
                created_at=NOW,
            )
        )
        audience = audience_for_device(conn, r["water_device"], date(2026, 5, 1))
        payload = {"alarm_id": 41, "factor": "w01018", "peak": "123.4"}
        count = announce(
            conn,
            topic="alarm",
            ref_id=41,
            event="opened",
            subject="超标报警：甲厂 总排口 化学需氧量",
            body="小时均值 123.4 mg/L，限值 100 mg/L",
            payload=payload,
            audience=audience,
            now=NOW,
        )
        assert rows(conn) == [
            ("inapp", f"enterprise:{r['a']}"),
            ("inapp", f"operator:{r['op1']}"),
            ("inapp", f"operator:{r['op2']}"),
            ("inapp", "region:350102"),
            ("email", "duty@a.example"),
            ("sms", "13800138001"),
            ("sms", "13800138002"),
            ("webhook", "https://fz.example/hook"),
            ("email", "fj@gov.example"),
            ("sms", "13900000000"),
        ]
        assert count == 10
        row = conn.execute(select(notifications).order_by(notifications.c.id.desc())).first()
        assert row is not None
        assert (row.topic, row.ref_id, row.event, row.state, row.attempts) == (
            "alarm",
            41,
            "opened",
            "pending",
            0,
        )
        assert (row.next_attempt_at, row.created_at, row.claimed_until, row.sent_at) == (NOW, NOW, None, None)
        assert (row.subject, row.payload) == ("超标报警：甲厂 总排口 化学需氧量", payload)

        # an order for A reaches the order-only address and not the alarm-only one
        conn.execute(notifications.delete())
        announce(
            conn,
            topic="order",
            ref_id=5,
            event="issued",
            subject="督办",
            body="",
            payload={},
            audience=Audience(r["a"], (), None),
            now=NOW,
        )
        assert rows(conn) == [("inapp", f"enterprise:{r['a']}"), ("email", "boss@a.example")]


def test_announce_is_part_of_the_callers_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(RuntimeError, match="the alarm change failed"), conn.begin():
            announce(
                conn,
                topic="alarm",
                ref_id=1,
                event="opened",
                subject="s",
                body="b",
                payload={},
                audience=Audience(None, (), "350102"),
                now=NOW,
            )
            assert rows(conn) == [("inapp", "region:350102")]  # visible inside the transaction …
            raise RuntimeError("the alarm change failed")
        assert (
            conn.execute(select(func.count()).select_from(notifications)).scalar_one() == 0
        )  # … gone with it


def test_announce_checks_and_limits(engine: Engine) -> None:
    with engine.begin() as conn:
        common: dict[str, Any] = {"ref_id": 1, "body": "", "payload": {}, "now": NOW}
        assert announce(conn, topic="alarm", event="opened", subject="s", audience=NOBODY, **common) == 0
        with pytest.raises(ValueError, match="topic 'alarms' is not one of alarm, order, audit"):
            announce(conn, topic="alarms", event="opened", subject="s", audience=NOBODY, **common)
        with pytest.raises(ValueError, match="event '' must be 1 to 24 characters"):
            announce(conn, topic="alarm", event="", subject="s", audience=NOBODY, **common)
        with pytest.raises(ValueError, match="must be 1 to 24 characters"):
            announce(conn, topic="alarm", event="x" * 25, subject="s", audience=NOBODY, **common)
        region = Audience(None, (), "350102")
        announce(conn, topic="audit", event="x" * 24, subject="报" * 300, audience=region, **common)
        announce(
            conn,
            topic="audit",
            event="later",
            subject="报" * 301,
            audience=region,
            **{**common, "now": NOW + timedelta(1)},
        )
        subjects = conn.execute(select(notifications.c.subject).order_by(notifications.c.id)).scalars().all()
        assert subjects == ["报" * 300, "报" * 299 + "…"]  # 300 fits; 301 is cut to 300 with an ellipsis
