"""Rule pack ``service`` (CS-4.2.3, CS-4.3.2.2, CS-4.3.3, CS-4.5) on data written through the real O&M stores,
SQLite and PostgreSQL.

The world is the service-ticket tests' (tests/operations/test_tickets.py): NOW is 12:00 China time on
2026-11-22; 甲 has outlets ``urban``/``suburban``/``remote`` under 运维甲 (``op``), and the gas logger on
``urban``; 运维乙 (``op2``) holds 丙's outlet C1; both contracts run since 2020. Staff of 运维甲: ``ok``
(certificate to 2027), ``old`` (certificate ended 2026-06-30), ``idle`` (gone); ``other`` works for 运维乙.
The last complete quarter before NOW is 2026Q3.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert

from envwatch.alarms.audit_days import sign_day
from envwatch.compliance.run import run_rules
from envwatch.core.settings import Settings
from envwatch.operations.emergency import add_drill, add_plan
from envwatch.operations.staff_schema import staff
from envwatch.operations.trainings import plan_training, record_held
from tests.compliance.world_service import judge, keys, stored
from tests.helpers import NOW
from tests.operations.test_tickets import World, ask, build_world, step

H = timedelta(hours=1)
T0 = NOW - 24 * H
Q3 = datetime(2026, 8, 3, 2, 0, tzinfo=NOW.tzinfo)  # a Monday of 2026Q3, 10:00 China time


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


# ---- CS-4.3.3-1H ----


def test_tickets_answered_late_or_not_at_all_are_found(
    engine: Engine, settings: Settings, world: World
) -> None:
    with engine.begin() as conn:
        in_time = ask(conn, world)["id"]
        step(conn, in_time, "respond", T0 + H / 2)
        late = ask(conn, world)["id"]
        step(conn, late, "respond", T0 + 2 * H)
        silent = ask(conn, world, at=NOW - 4 * H)["id"]
        ask(conn, world, at=NOW - H / 2)  # its hour is still running
    found = judge(engine, settings, "CS-4.3.3-1H", NOW)
    assert keys(found) == [f"ticket:{late}", f"ticket:{silent}"]
    first = found[0]
    assert (first.subject_kind, first.subject_id, first.operator_id) == ("operator", world.op, world.op)
    assert (first.enterprise_id, first.outlet_id) == (world.jia, world.outlets["urban"])
    assert [(link.kind, link.ref) for link in first.evidence] == [("ticket", str(late))]
    assert "was responded to at 2026-11-21 14:00 China time, 2.0 h after the request (> 1 h)" in first.message
    assert "服务工单未在1小时内响应" in first.message
    assert "has not been responded to by 2026-11-22 09:00 China time" in found[1].message
    # as it stood before the late response: overdue then, not yet answered
    (then,) = judge(engine, settings, "CS-4.3.3-1H", T0 + 1.5 * H)
    assert then.key == f"ticket:{late}" and "has not been responded to" in then.message
    # a province allowing 3 h: the 2 h response is in time, the silent ticket (4 h) is not
    assert keys(judge(engine, settings, "CS-4.3.3-1H", NOW, respond_within_h=3)) == [f"ticket:{silent}"]


# ---- CS-4.3.3-4H8H ----


def test_the_zone_decides_the_on_site_limit(engine: Engine, settings: Settings, world: World) -> None:
    ok = world.staff["ok"]
    with engine.begin() as conn:
        suburban = ask(conn, world, "suburban")["id"]  # 6 h: within 8 h
        step(conn, suburban, "respond", T0 + H / 2)
        step(conn, suburban, "arrive", T0 + 6 * H, staff_id=ok)
        urban = ask(conn, world, "urban")["id"]  # 5 h: over 4 h
        step(conn, urban, "respond", T0 + H / 2)
        step(conn, urban, "arrive", T0 + 5 * H, staff_id=ok)
        remote = ask(conn, world, "remote", at=NOW - 9 * H)["id"]  # nobody came in 9 h
        step(conn, remote, "respond", NOW - 8.5 * H)
    found = judge(engine, settings, "CS-4.3.3-4H8H", NOW)
    assert keys(found) == [f"ticket:{urban}", f"ticket:{remote}"]
    assert (
        "reached on site at 2026-11-21 17:00 China time, 5.0 h after the request (> 4 h, urban outlet)"
        in (found[0].message)
    )
    assert "(> 8 h, remote outlet)" in found[1].message and "偏远地区" in found[1].message
    assert keys(judge(engine, settings, "CS-4.3.3-4H8H", NOW, urban_h=6)) == [f"ticket:{remote}"]
    assert keys(judge(engine, settings, "CS-4.3.3-4H8H", NOW, remote_h=10)) == [f"ticket:{urban}"]


# ---- CS-4.3.3-SAT ----


def _surveyed(engine: Engine, world: World, outlet: str, at: datetime, score: int, enterprise: int) -> int:
    with engine.begin() as conn:
        t = int(ask(conn, world, outlet, at=at, enterprise_id=enterprise)["id"])
        step(conn, t, "respond", at + H / 2)
        step(conn, t, "resolve_remotely", at + H)
        step(conn, t, "confirm", at + 2 * H)
        step(conn, t, "survey", at + 3 * H, score=score)
    return t


def test_satisfaction_below_85_percent_in_the_last_quarter(
    engine: Engine, settings: Settings, world: World
) -> None:
    _surveyed(engine, world, "urban", Q3, 5, world.jia)
    unhappy = _surveyed(engine, world, "urban", Q3 + 24 * H, 2, world.jia)
    _surveyed(engine, world, "c1", Q3, 5, world.bing)  # 运维乙: 100 %
    _surveyed(engine, world, "urban", NOW - 4 * H, 1, world.jia)  # 2026Q4: not judged yet
    (found,) = judge(engine, settings, "CS-4.3.3-SAT", NOW)
    assert found.key == f"operator:{world.op}:quarter:2026Q3"
    assert (found.subject_kind, found.operator_id) == ("operator", world.op)
    assert "satisfaction 50.0 % in 2026Q3 (1 of 2 surveys satisfied) is below 85 %" in found.message
    assert [(link.kind, link.ref) for link in found.evidence] == [
        ("operator", str(world.op)),
        ("ticket", str(unhappy)),
    ]
    assert judge(engine, settings, "CS-4.3.3-SAT", NOW, min_percent=50) == []
    assert judge(engine, settings, "CS-4.3.3-SAT", NOW, min_answers=3) == []  # too few surveys to judge


# ---- CS-4.2.3-DRILL ----


def test_an_operator_without_a_drill_in_a_year(engine: Engine, settings: Settings, world: World) -> None:
    assert keys(judge(engine, settings, "CS-4.2.3-DRILL", NOW)) == [
        f"operator:{world.op}:since:never",
        f"operator:{world.op2}:since:never",
    ]
    with engine.begin() as conn:
        plan = add_plan(
            conn, operator_id=world.op, event_type="device_failure", title="设备故障应急预案", version="V1",
            effective_on=date(2026, 1, 1), body="…", recorded_by="op_admin", now=NOW,
        )  # fmt: skip
        drill = add_drill(
            conn, plan["id"], held_on=date(2026, 3, 1), participants=6, summary="停电切换演练",
            recorded_by="op_admin", now=NOW,
        )  # fmt: skip
    found = judge(engine, settings, "CS-4.2.3-DRILL", NOW)
    assert keys(found) == [f"operator:{world.op2}:since:never"]
    assert "no drill recorded since its first contract began on 2020-01-01" in found[0].message
    # a province asking for a drill every 200 days: 2026-03-01 + 200 days = 2026-09-17 has passed
    (late,) = [
        f for f in judge(engine, settings, "CS-4.2.3-DRILL", NOW, days=200) if f.operator_id == world.op
    ]
    assert late.key == f"operator:{world.op}:since:2026-03-01"
    assert ("drill", str(drill["id"])) in [(link.kind, link.ref) for link in late.evidence]
    assert "the next was due by 2026-09-17" in late.message


# ---- CS-4.5-CERT ----


def test_active_staff_without_a_valid_certificate(engine: Engine, settings: Settings, world: World) -> None:
    with engine.begin() as conn:
        ids = {}
        for name, position in (("new", "field_engineer"), ("boss", "manager")):
            ids[name] = conn.execute(
                insert(staff)
                .values(
                    operator_id=world.op, name=name, position=position, phone="1", username=None,
                    active=True, created_at=NOW - 48 * H, updated_at=NOW - 48 * H,
                )
                .returning(staff.c.id)
            ).scalar_one()  # fmt: skip
    found = judge(engine, settings, "CS-4.5-CERT", NOW)
    old = world.staff["old"]
    assert keys(found) == [f"staff:{old}:until:2026-06-30", f"staff:{ids['new']}:until:none"]
    assert found[0].operator_id == world.op and found[0].subject_kind == "operator"
    assert [link.kind for link in found[0].evidence] == ["staff", "certificate"]
    assert "the latest, CERT-" in found[0].message and "was valid until 2026-06-30" in found[0].message
    # the manager never needed one; with no position required, only the lapsed certificate is a finding
    assert keys(judge(engine, settings, "CS-4.5-CERT", NOW, positions=[])) == [
        f"staff:{old}:until:2026-06-30"
    ]
    # before it lapsed it was valid
    assert f"staff:{old}:until:2026-06-30" not in keys(
        judge(engine, settings, "CS-4.5-CERT", datetime(2026, 6, 30, 4, 0, tzinfo=NOW.tzinfo))
    )


# ---- CS-4.5-TRAIN ----


def _training(engine: Engine, operator_id: int, kind: str, held_on: date) -> None:
    with engine.begin() as conn:
        plan = plan_training(
            conn, operator_id=operator_id, kind=kind, title=f"{kind} 培训", planned_on=held_on,
            pass_score=60, recorded_by="op_admin", now=NOW,
        )  # fmt: skip
        record_held(conn, plan["id"], held_on=held_on, recorded_by="op_admin", now=NOW)


def test_a_quarter_without_re_training(engine: Engine, settings: Settings, world: World) -> None:
    _training(engine, world.op, "quarterly", date(2026, 8, 15))
    _training(engine, world.op2, "quarterly", date(2026, 10, 10))  # 2026Q4: too late for Q3
    _training(engine, world.op2, "other", date(2026, 9, 1))
    (found,) = judge(engine, settings, "CS-4.5-TRAIN", NOW)
    assert found.key == f"operator:{world.op2}:quarter:2026Q3"
    assert "held no quarterly training in 2026Q3 (2026-07-01..2026-09-30)" in found.message
    assert judge(engine, settings, "CS-4.5-TRAIN", NOW, kinds=["quarterly", "other"]) == []


# ---- CS-4.3.2.2-AUDIT ----


def test_days_without_the_daily_audit(engine: Engine, settings: Settings, world: World) -> None:
    with engine.begin() as conn:
        for n in range(14, 21):
            if n != 18:
                sign_day(
                    conn, operator_id=world.op, day=date(2026, 11, n), signed_by="auditor", note="",
                    anomalies=0, now=NOW,
                )  # fmt: skip
    # NOW is 2026-11-22 12:00: the 21st may still be signed today, so the days judged are the 14th-20th;
    # 运维乙 has no device under contract and is not judged
    (found,) = judge(engine, settings, "CS-4.3.2.2-AUDIT", NOW)
    assert found.key == f"operator:{world.op}:day:2026-11-18"
    assert "did not sign off the data audit of 2026-11-18 (1 device(s) under contract)" in found.message
    assert judge(engine, settings, "CS-4.3.2.2-AUDIT", NOW, lookback_days=2) == []
    # judged on the 23rd the 21st is over too, and unsigned
    day23 = NOW + 24 * H
    assert f"operator:{world.op}:day:2026-11-21" in keys(judge(engine, settings, "CS-4.3.2.2-AUDIT", day23))


# ---- through the engine ----


def test_the_pack_runs_through_the_engine_and_a_rerun_changes_nothing(
    engine: Engine, settings: Settings, world: World
) -> None:
    with engine.begin() as conn:
        silent = ask(conn, world, at=NOW - 10 * H)["id"]
    rules = ["CS-4.3.3-1H", "CS-4.3.3-4H8H", "CS-4.2.3-DRILL", "CS-4.5-CERT", "CS-4.5-TRAIN"]
    first = run_rules(engine, settings, at=NOW, rule_ids=rules)
    assert first.ok, first.rules
    assert first.rules["CS-4.3.3-1H"]["opened"] == 1
    assert first.rules["CS-4.3.3-4H8H"]["opened"] == 1
    assert first.rules["CS-4.2.3-DRILL"]["opened"] == 2
    assert first.rules["CS-4.5-TRAIN"]["opened"] == 2
    (ticket,) = stored(engine, "CS-4.3.3-1H")
    assert (ticket["key"], ticket["state"], ticket["subject_kind"]) == (
        f"ticket:{silent}",
        "open",
        "operator",
    )
    assert (ticket["operator_id"], ticket["enterprise_id"], ticket["region_code"]) == (
        world.op,
        world.jia,
        "350102",
    )
    assert ticket["evidence"][0]["kind"] == "ticket"
    again = run_rules(engine, settings, at=NOW, rule_ids=rules)
    for outcome in again.rules.values():
        assert outcome["opened"] == outcome["reopened"] == outcome["resolved"] == 0
    assert stored(engine, "CS-4.3.3-1H")[0]["id"] == ticket["id"]
    # answered (late) later: still a finding, the same one
    with engine.begin() as conn:
        step(conn, silent, "respond", NOW - H)
    later = run_rules(engine, settings, at=NOW, rule_ids=["CS-4.3.3-1H"])
    assert later.rules["CS-4.3.3-1H"]["still_open"] == 1
    assert (
        "was responded to at 2026-11-22 11:00 China time, 9.0 h after"
        in stored(engine, "CS-4.3.3-1H")[0]["message"]
    )
