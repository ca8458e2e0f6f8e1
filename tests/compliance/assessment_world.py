"""The operator assessment's test world: ``tests.operations.records_world`` (运维甲 runs 甲's gas and water
devices in 330102, 运维乙 乙's device in 440103) with a quarter's work on top, through the real stores.

Quarter 2026Q3 (Jul 1 – Sep 30, 13 whole 7-day windows; NOW is 2026-11-22):

- inspections: 运维甲 on its gas device in every window, never on the water device (13 of 26 windows);
  运维乙 on its device in every window (13 of 13);
- one ticket at 甲 on Aug 1, 10:00: answered after 30 min (met), on site after 10 h (urban 4 h: breached),
  closed and surveyed 5 (satisfied); 运维乙 has no ticket;
- findings (rule ``TEST-1``): two violations at 甲 naming 运维甲 first seen in the quarter, one more waived,
  one warning (not a violation) and one violation first seen in Q2; none for 运维乙;
- hour data: one whole day (Aug 10) of 乙's device (its rated gas factors).

2026Q2 gets (``q2_work``) one inspection of 运维乙, so that 运维甲 is last there too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select

from envwatch.compliance.findings import apply_found, waive
from envwatch.compliance.rules import Found, Rule, Severity
from envwatch.compliance.schema import findings
from envwatch.core.clock import CHINA_TZ
from envwatch.core.settings import Settings
from envwatch.operations.records import add_record
from envwatch.operations.tickets import record_event, request_ticket
from tests.monitoring.test_rates import GAS, put_day
from tests.operations.records_world import NOW, RecordsWorld, build, draft

Q3_FIRST = date(2026, 7, 1)
Q2_FIRST = date(2026, 4, 1)


def china(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TZ).astimezone(UTC)


def inspect(engine: Engine, settings: Settings, w: RecordsWorld, device: str, days: Iterable[date]) -> None:
    """Inspections of one device (``gas``, ``water`` by 运维甲/张三; ``other`` by 运维乙/赵六) on those days."""
    mine = device != "other"
    with engine.begin() as conn:
        for day in days:
            d = draft(
                w,
                device_id=w.devices[device],
                operator_id=w.op if mine else w.other_op,
                staff_id=w.staff["zhang" if mine else "zhao"],
                performed_at=china(day),
                latitude=None,
                longitude=None,
            )
            add_record(conn, d, "test", NOW, settings)


def _noop(ctx: object) -> list[Found]:
    return []


TEST_RULE = Rule("TEST-1", "SX-26", "test rule", "测试规则", "device", "nothing", _noop)


def _found(w: RecordsWorld, key: str, severity: Severity) -> Found:
    gas = w.devices["gas"]
    return Found(
        key=key, subject_kind="device", subject_id=gas, message=f"test {key}", enterprise_id=w.enterprises["jia"],
        outlet_id=w.outlets["gas"], device_id=gas, operator_id=w.op, severity=severity,
    )  # fmt: skip


def add_findings(engine: Engine, w: RecordsWorld, items: list[tuple[str, Severity, datetime]]) -> list[int]:
    """Findings of ``TEST_RULE`` about 甲's gas device naming 运维甲: (key, severity, first seen), each stored
    by a run at its first-seen time that finds the earlier ones again (so they stay open). Their ids."""
    ids = []
    f = findings.c
    with engine.begin() as conn:
        for key, severity, at in items:
            stored = conn.execute(select(f.key, f.severity).where(f.rule == TEST_RULE.id)).all()
            again = [_found(w, k, s) for k, s in stored]
            apply_found(conn, TEST_RULE, [*again, _found(w, key, severity)], at=at, now=NOW)
            query = select(f.id).where(f.rule == TEST_RULE.id, f.key == key)
            ids.append(int(conn.execute(query).scalar_one()))
    return ids


def q3_work(engine: Engine, settings: Settings, w: RecordsWorld) -> dict[str, int]:
    """The quarter of the module docstring; the ticket's and the waived finding's ids."""
    windows = [Q3_FIRST + timedelta(days=7 * k + 2) for k in range(13)]
    inspect(engine, settings, w, "gas", windows)
    inspect(engine, settings, w, "other", windows)
    asked = china(date(2026, 8, 1))
    with engine.begin() as conn:
        ticket = request_ticket(
            conn, enterprise_id=w.enterprises["jia"], outlet_id=w.outlets["gas"], device_id=w.devices["gas"],
            subject="数据异常", description="SO2 读数不变", channel="phone", requested_at=asked, by="甲", now=NOW,
        )["id"]  # fmt: skip
        steps = [
            ("respond", asked + timedelta(minutes=30), {}),
            ("arrive", asked + timedelta(hours=10), {"staff_id": w.staff["zhang"]}),
            ("resolve", asked + timedelta(hours=11), {}),
            ("confirm", asked + timedelta(hours=12), {}),
            ("survey", asked + timedelta(hours=13), {"score": 5}),
        ]
        for event, at, extra in steps:
            record_event(conn, ticket, event=event, at=at, by="someone", now=NOW, **extra)  # type: ignore[arg-type]
    ids = add_findings(
        engine,
        w,
        [
            ("q2-old", "violation", china(date(2026, 6, 20))),
            ("v1", "violation", china(date(2026, 7, 5))),
            ("v2", "violation", china(date(2026, 8, 5))),
            ("waived", "violation", china(date(2026, 8, 6))),
            ("warn", "warning", china(date(2026, 8, 7))),
        ],
    )
    with engine.begin() as conn:
        waive(conn, ids[3], "a mistake of the test rule", by="regulator", now=NOW)
    put_day(engine, w.devices["other"], date(2026, 8, 10), GAS)
    return {"ticket": ticket, "waived": ids[3], "v1": ids[1]}


def q2_work(engine: Engine, settings: Settings, w: RecordsWorld) -> None:
    inspect(engine, settings, w, "other", [Q2_FIRST + timedelta(days=3)])


def world(engine: Engine, settings: Settings) -> RecordsWorld:
    return build(engine)
