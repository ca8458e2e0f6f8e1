"""Device faults (SX-18.3) on the real stores (SQLite and PostgreSQL): opening, the journal, the fault mark,
manual results, the clocks over National Day 2025, lists.

National Day 2025: Oct 1–8 off, Sun Sep 28 and Sat Oct 11 worked in lieu. A fault at 10:00 China time on
Tue Sep 30 must be restored by 24:00 of the 5th working day after it: Oct 9, 10, 11 (Sat, worked), 13, 14 →
due 2025-10-15 00:00 China time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from envwatch.alarms.store import Raised, alarm_events_of, raise_alarm
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.workdays import WorkdayCalendar
from envwatch.monitoring.marks import MarkPolicy
from envwatch.monitoring.marks_schema import marks
from envwatch.operations.fault_clocks import FaultRules
from envwatch.operations.fault_lifecycle import InvalidTransition
from envwatch.operations.faults import (
    FaultQuery,
    ManualResultIn,
    add_manual_results,
    fault_events_of,
    fault_view,
    list_faults,
    manual_results_of,
    open_fault,
    parse_manual_csv,
    record_event,
)
from tests.helpers import first_uncovered_year
from tests.operations.faults_world import COD, NOX, SO2, FaultWorld, build, cst

NOW = cst(2025, 10, 20, 12)
START = cst(2025, 9, 30, 10)  # Tuesday before National Day
RESTORE_DUE = cst(2025, 10, 15)  # 24:00 China time of Tue Oct 14
RULES = FaultRules()
CAL = WorkdayCalendar()
H = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def world(engine: Engine) -> FaultWorld:
    return build(engine, NOW)


def _open(engine: Engine, w: FaultWorld, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "device_id": w.devices["gas"],
        "started_at": START,
        "description": "SO2 分析仪采样泵损坏",
        "factors": [SO2],
        "alarm_id": None,
        "opened_by": "op1",
        "now": NOW,
    }
    fields.update(overrides)
    with engine.begin() as conn:
        return open_fault(conn, **fields)


def _event(engine: Engine, fault_id: int, event: str, at: datetime, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"event": event, "at": at, "by": "op1", "now": NOW, **kw}
    with engine.begin() as conn:
        return record_event(conn, fault_id, **fields)


def _refused(engine: Engine, error: type[Exception], message: str, call: Any) -> None:
    with pytest.raises(error) as info, engine.begin() as conn:
        call(conn)
    assert str(info.value) == message


# ---- opening ----


def test_open_a_fault_by_hand(engine: Engine, world: FaultWorld) -> None:
    fault = _open(engine, world, factors=[NOX, SO2, " "])
    assert fault["state"] == "open" and fault["factors"] == f"{NOX},{SO2}"  # sorted, blanks dropped
    assert fault["started_at"] == START and fault["opened_at"] == NOW and fault["opened_by"] == "op1"
    assert fault["operator_id"] == world.operator  # the contract covering the outlet on the start day
    assert fault["mn"] and fault["enterprise_id"] == world.jia and fault["alarm_id"] is None
    with engine.connect() as conn:
        (opened,) = fault_events_of(conn, fault["id"])
    assert (opened["event"], opened["at"], opened["recorded_at"]) == ("opened", START, NOW)
    assert opened["data"] == {"factors": [NOX, SO2], "alarm_id": None, "operator_id": world.operator}
    # 乙 has no operator under contract
    other = _open(engine, world, device_id=world.devices["b"], factors=[])
    assert other["operator_id"] is None and other["factors"] == ""


def test_opening_refuses_what_cannot_be(engine: Engine, world: FaultWorld) -> None:
    gas = world.devices["gas"]

    def opening(**overrides: Any) -> Any:
        fields: dict[str, Any] = {
            "device_id": gas, "started_at": START, "description": "坏了", "factors": [SO2],
            "alarm_id": None, "opened_by": "op1", "now": NOW,
        }  # fmt: skip
        fields.update(overrides)
        return lambda conn: open_fault(conn, **fields)

    late = NOW + timedelta(seconds=1)
    _refused(
        engine,
        InvalidInput,
        "the fault's start 2025-10-20 12:00:01 (China time) is in the future; record what has happened",
        opening(started_at=late),
    )
    _refused(engine, NotFound, "no device 99999", opening(device_id=99999))
    _refused(engine, InvalidInput, "the description (故障现象) is required", opening(description="  "))
    _refused(
        engine,
        InvalidInput,
        f"device {gas} has no factor {COD}: registered are {NOX}, {SO2}",
        opening(factors=[COD]),
    )
    _refused(engine, InvalidInput, f"factor {SO2} is listed more than once", opening(factors=[SO2, SO2]))
    _refused(
        engine,
        InvalidInput,
        "factor 'SO₂' is not an HJ 212 pollutant code such as a21026 or w01018",
        opening(factors=["SO₂"]),
    )
    _refused(
        engine,
        InvalidInput,
        "the fault's start 2025-09-30T10:00:00 has no time zone; give it with one",
        opening(started_at=START.replace(tzinfo=None)),
    )
    with engine.connect() as conn:
        assert list_faults(conn, FaultQuery())[1] == 0


def test_one_open_fault_per_device_and_factor(engine: Engine, world: FaultWorld) -> None:
    first = _open(engine, world, factors=[SO2])
    since = "2025-09-30 10:00:00 (China time)"
    gas = world.devices["gas"]
    for factors, shared in (([SO2], SO2), ([], "the whole device"), ([NOX, SO2], SO2)):
        with pytest.raises(Conflict) as info:
            _open(engine, world, factors=factors)
        assert str(info.value) == (
            f"device {gas} already has open fault {first['id']} (since {since}) covering {shared}: record on "
            "that fault, or restore it first"
        )
    # another factor of the same device, and the same factor of another device, are other faults
    nox = _open(engine, world, factors=[NOX])
    _open(engine, world, device_id=world.devices["gas2"], factors=[SO2])
    # once restored, the same factor may fault again
    _event(engine, first["id"], "restored", START + 5 * H)
    again = _open(engine, world, factors=[SO2], started_at=START + 6 * H)
    assert again["state"] == "open" and nox["id"] != again["id"]


def test_open_from_an_alarm_writes_to_the_alarm_journal(engine: Engine, world: FaultWorld) -> None:
    gas = world.devices["gas"]
    with engine.begin() as conn:
        alarm = raise_alarm(
            conn, Raised(gas, "offline", "", START, "SX-20.9", "no packet"), START, ack_due_s=3600
        )
        other = raise_alarm(
            conn,
            Raised(world.devices["gas2"], "offline", "", START, "SX-20.9", "no packet"),
            START,
            ack_due_s=3600,
        )
    fault = _open(engine, world, alarm_id=alarm.alarm_id, factors=[])
    assert fault["alarm_id"] == alarm.alarm_id
    with engine.connect() as conn:
        note = alarm_events_of(conn, alarm.alarm_id)[-1]
    assert (note["event"], note["actor"], note["data"]) == ("comment", "op1", {"fault_id": fault["id"]})
    assert note["comment"] == f"故障 #{fault['id']} opened from this alarm: SO2 分析仪采样泵损坏"

    def opening(alarm_id: int, device: str = "gas", factors: list[str] | None = None) -> Any:
        return lambda conn: open_fault(
            conn, device_id=world.devices[device], started_at=START, description="x",
            factors=factors or [NOX], alarm_id=alarm_id, opened_by="op1", now=NOW,
        )  # fmt: skip

    _refused(
        engine,
        Conflict,
        f"alarm {alarm.alarm_id} is already tied to open fault {fault['id']}: record on that fault",
        opening(alarm.alarm_id),
    )
    _refused(
        engine,
        InvalidInput,
        f"alarm {other.alarm_id} is on device {world.devices['gas2']}, not on device {gas}: a fault opened "
        "from an alarm is on the alarm's device",
        opening(other.alarm_id),
    )
    _refused(engine, NotFound, "no alarm 99999", opening(99999))


# ---- events ----


def test_the_whole_course_of_a_fault_and_its_marks(engine: Engine, world: FaultWorld) -> None:
    fault = _open(engine, world, factors=[NOX, SO2])
    fid = fault["id"]
    backup = START + 20 * H
    after = _event(engine, fid, "backup_started", backup, data={"kind": "backup_device", "serial": "BJ-7"})
    assert (after["state"], after["backup_kind"], after["backup_started_at"]) == (
        "on_backup",
        "backup_device",
        backup,
    )
    after = _event(engine, fid, "backup_checked", backup + 8 * DAY, comment="比对合格")
    assert after["state"] == "on_backup" and after["backup_checked_at"] == backup + 8 * DAY
    after = _event(engine, fid, "commented", NOW, comment="等待备件")
    assert after["state"] == "on_backup"
    restored = RESTORE_DUE  # exactly at the due time: on time
    after = _event(engine, fid, "restored", restored, comment="更换采样泵")
    assert after["state"] == "restored" and after["restored_at"] == restored and after["mark_id"] is not None
    with engine.connect() as conn:
        events = fault_events_of(conn, fid)
        made = (
            conn.execute(select(marks).where(marks.c.device_id == world.devices["gas"]).order_by(marks.c.id))
            .mappings()
            .all()
        )
    assert [e["event"] for e in events] == [
        "opened",
        "backup_started",
        "backup_checked",
        "commented",
        "restored",
    ]
    assert events[1]["data"] == {"kind": "backup_device", "serial": "BJ-7"}
    assert events[-1]["data"] == {"mark_ids": [m["id"] for m in made]}
    assert [(m["factor"], m["start_at"], m["end_at"], m["code"], m["source"]) for m in made] == [
        (NOX, START, restored, "fault", "operator"),
        (SO2, START, restored, "fault", "operator"),
    ]
    assert made[0]["id"] == after["mark_id"] and made[0]["reason"] == f"故障 #{fid}: SO2 分析仪采样泵损坏"
    assert not made[0]["late"]  # marked within 10 days of the end
    # the clocks, met at the due time exactly
    with engine.connect() as conn:
        view = fault_view(conn, fid, NOW, RULES, CAL)
    clocks = {c.name: c for c in view["clocks"]}
    assert (clocks["restore"].state, clocks["restore"].due_at, clocks["restore"].remaining) == (
        "met", RESTORE_DUE, timedelta(0),
    )  # fmt: skip
    assert clocks["backup_required"].state == "met" and clocks["backup_check"].state == "met"
    assert clocks["backup_max"].state == "met"  # the restore ended the backup within 30 days
    assert view["factors"] == [NOX, SO2] and len(view["events"]) == 5 and view["clock_error"] is None


def test_a_whole_device_fault_longer_than_a_mark_gets_consecutive_marks(
    engine: Engine, world: FaultWorld
) -> None:
    start = cst(2025, 8, 1, 8)
    fault = _open(engine, world, device_id=world.devices["water"], factors=[], started_at=start)
    restored = cst(2025, 10, 10, 8)  # 70 days
    _event(engine, fault["id"], "restored", restored)
    with engine.connect() as conn:
        made = (
            conn.execute(
                select(marks).where(marks.c.device_id == world.devices["water"]).order_by(marks.c.id)
            )
            .mappings()
            .all()
        )
    span = MarkPolicy().max_span
    assert [(m["factor"], m["start_at"], m["end_at"]) for m in made] == [
        (None, start, start + span),
        (None, start + span, start + 2 * span),
        (None, start + 2 * span, restored),
    ]


def test_events_refused(engine: Engine, world: FaultWorld) -> None:
    fid = _open(engine, world)["id"]

    def recording(event: str, at: datetime, **kw: Any) -> Any:
        return lambda conn: record_event(conn, fid, event=event, at=at, by="op1", now=NOW, **kw)

    _refused(
        engine,
        NotFound,
        "no fault 99999",
        lambda conn: record_event(conn, 99999, event="commented", at=NOW, comment="x", by="op1", now=NOW),
    )
    _refused(
        engine,
        InvalidInput,
        "unknown fault event 'fixed' (events: backup_started, backup_checked, backup_ended, restored, commented)",
        recording("fixed", NOW),
    )
    _refused(engine, InvalidInput, "'opened' creates a fault: use open_fault", recording("opened", NOW))
    _refused(
        engine,
        InvalidTransition,
        "a fault that is open cannot take 'backup_checked' (allowed: backup_started, commented, restored)",
        recording("backup_checked", NOW),
    )
    _refused(
        engine,
        InvalidInput,
        "backup_started needs the kind: backup_device (备机) or manual (手工监测), not None",
        recording("backup_started", START + H),
    )
    _refused(
        engine,
        InvalidInput,
        "backup_started needs the kind: backup_device (备机) or manual (手工监测), not 'spare'",
        recording("backup_started", START + H, data={"kind": "spare"}),
    )
    _refused(
        engine,
        InvalidInput,
        "the time of restored 2025-10-20 12:00:01 (China time) is in the future; record what has happened",
        recording("restored", NOW + timedelta(seconds=1)),
    )
    _refused(
        engine,
        InvalidInput,
        "restored 2025-09-30 09:59:59 (China time) is before the fault started 2025-09-30 10:00:00 (China time)",
        recording("restored", START - timedelta(seconds=1)),
    )
    _refused(
        engine,
        InvalidInput,
        "the restore 2025-09-30 10:00:00 (China time) must be after the fault's start 2025-09-30 10:00:00 "
        "(China time)",
        recording("restored", START),
    )
    _refused(engine, InvalidInput, "a comment is required", recording("commented", NOW))
    _refused(
        engine,
        InvalidInput,
        "the event's data must be plain JSON (text, numbers, lists, objects)",
        recording("commented", NOW, comment="x", data={"when": NOW}),
    )
    # the backup once; a second one after it ended is a second fact
    _event(engine, fid, "backup_started", START + 2 * H, data={"kind": "manual"})
    _refused(
        engine,
        InvalidInput,
        "backup_ended 2025-09-30 11:00:00 (China time) is before the backup started 2025-09-30 12:00:00 (China time)",
        recording("backup_ended", START + H),
    )
    _event(engine, fid, "backup_checked", START + 3 * H)
    _refused(
        engine,
        InvalidInput,
        "backup_ended 2025-09-30 12:30:00 (China time) is before the backup's check 2025-09-30 13:00:00 (China time)",
        recording("backup_ended", START + 2.5 * H),
    )
    _event(engine, fid, "backup_ended", START + 4 * H)
    _refused(
        engine,
        Conflict,
        f"fault {fid} already has its backup_started at 2025-09-30 12:00:00 (China time); each fact is "
        "recorded once (add a comment to correct it)",
        recording("backup_started", START + 5 * H, data={"kind": "manual"}),
    )
    _event(engine, fid, "restored", START + 6 * H)
    _refused(
        engine,
        InvalidTransition,
        "a fault that is restored cannot take 'restored' (allowed: commented)",
        recording("restored", START + 7 * H),
    )
    assert isinstance(InvalidTransition("x"), Conflict)  # a second restore is a Conflict (409)
    after = _event(engine, fid, "commented", NOW, comment="补记：备件编号 P-3")
    assert after["state"] == "restored"
    with engine.connect() as conn:
        assert len(fault_events_of(conn, fid)) == 6


# ---- clocks (SX-18.3) over National Day ----


def test_clocks_running_and_overdue_over_the_holiday(engine: Engine, world: FaultWorld) -> None:
    fid = _open(engine, world)["id"]
    with engine.connect() as conn:
        before = {c.name: c for c in fault_view(conn, fid, RESTORE_DUE, RULES, CAL)["clocks"]}
        after = {
            c.name: c for c in fault_view(conn, fid, RESTORE_DUE + timedelta(seconds=1), RULES, CAL)["clocks"]
        }
    assert (before["restore"].state, before["restore"].remaining) == ("running", timedelta(0))
    assert (after["restore"].state, after["restore"].remaining) == ("overdue", -timedelta(seconds=1))
    assert after["backup_required"].state == "overdue" and after["backup_required"].due_at == START + 24 * H
    assert after["backup_check"].state == "not_applicable"
    # a backup exactly at start + 24 h is on time
    _event(engine, fid, "backup_started", START + 24 * H, data={"kind": "backup_device"})
    with engine.connect() as conn:
        clocks = {c.name: c for c in fault_view(conn, fid, NOW, RULES, CAL)["clocks"]}
    assert (clocks["backup_required"].state, clocks["backup_required"].remaining) == ("met", timedelta(0))
    # running 19 days 2 h by NOW, more than 7: the check was due 10 days after the switch
    assert clocks["backup_check"].state == "overdue" and clocks["backup_check"].due_at == START + 11 * DAY


def test_a_year_the_calendar_does_not_cover_is_said_not_guessed(engine: Engine, world: FaultWorld) -> None:
    year = first_uncovered_year()
    later = datetime(year, 3, 2, 2, tzinfo=UTC)
    fid = _open(engine, world, started_at=later, now=later + H)["id"]
    with engine.connect() as conn:
        view = fault_view(conn, fid, later + H, RULES, CAL)
        overdue = list_faults(conn, FaultQuery(overdue_at=later + 10 * DAY))
    assert view["clocks"] is None and f"has no data for {year}" in view["clock_error"]
    assert overdue == ([], 0)


# ---- manual results ----


def _result(**overrides: Any) -> ManualResultIn:
    fields: dict[str, Any] = {
        "factor": SO2, "sampled_at": START + 30 * H, "value": "12.30", "unit": "mg/m3",
        "agency": "浙江某检测有限公司", "report_no": "JC-2025-001",
    }  # fmt: skip
    fields.update(overrides)
    return ManualResultIn(**fields)


def test_manual_results_only_while_manual_monitoring_runs(engine: Engine, world: FaultWorld) -> None:
    fid = _open(engine, world)["id"]

    def adding(*rows: ManualResultIn) -> Any:
        return lambda conn: add_manual_results(conn, fid, list(rows), by="op1", now=NOW)

    none = (
        f"fault {fid} has no manual monitoring running (state open, backup none): manual results are taken "
        "only while a backup of kind manual runs"
    )
    _refused(engine, Conflict, none, adding(_result()))
    _refused(
        engine,
        NotFound,
        "no fault 99999",
        lambda conn: add_manual_results(conn, 99999, [_result()], by="op1", now=NOW),
    )
    _event(engine, fid, "backup_started", START + 24 * H, data={"kind": "backup_device"})
    _refused(
        engine,
        Conflict,
        f"fault {fid} has no manual monitoring running (state on_backup, backup backup_device): manual results "
        "are taken only while a backup of kind manual runs",
        adding(_result()),
    )
    other = _open(engine, world, device_id=world.devices["gas2"])["id"]
    _event(engine, other, "backup_started", START + 24 * H, data={"kind": "manual"})
    _event(engine, other, "backup_ended", START + 48 * H)
    with pytest.raises(Conflict, match=r"state open, backup none"), engine.begin() as conn:
        add_manual_results(conn, other, [_result()], by="op1", now=NOW)
    with engine.connect() as conn:
        assert manual_results_of(conn, fid) == [] and manual_results_of(conn, other) == []


def test_manual_results_stored_exactly_and_checked_row_by_row(engine: Engine, world: FaultWorld) -> None:
    fid = _open(engine, world, factors=[])["id"]  # the whole device: any registered factor
    started = START + 24 * H
    _event(engine, fid, "backup_started", started, data={"kind": "manual"})
    with engine.begin() as conn:
        added = add_manual_results(
            conn,
            fid,
            [_result(), _result(factor=NOX, value=Decimal("45.000"), sampled_at=started)],
            by="op1",
            now=NOW,
        )
    assert [(r["factor"], r["value"], r["sampled_at"]) for r in added] == [
        (NOX, Decimal("45.000"), started),
        (SO2, Decimal("12.30"), START + 30 * H),
    ]
    assert str(added[1]["value"]) == "12.30"  # the trailing zero is kept: exact, as reported
    assert added[0]["device_id"] == world.devices["gas"] and added[0]["agency"] == "浙江某检测有限公司"

    def adding(*rows: ManualResultIn) -> Any:
        return lambda conn: add_manual_results(conn, fid, list(rows), by="op1", now=NOW)

    cases = [
        (_result(sampled_at=started - timedelta(seconds=1), value="1"),
         "row 1: sampled at 2025-10-01 09:59:59 (China time), outside the manual monitoring from "
         "2025-10-01 10:00:00 until now"),
        (_result(sampled_at=NOW + timedelta(seconds=1)),
         "row 1: sampled at 2025-10-20 12:00:01 (China time), outside the manual monitoring from "
         "2025-10-01 10:00:00 until now"),
        (_result(factor=COD), f"row 1: factor {COD} is not one this fault covers ({NOX}, {SO2})"),
        (_result(factor="SO2!"), "row 1: factor 'SO2!' is not an HJ 212 pollutant code such as a21026"),
        (_result(value=12.3), "row 1: the value 12.3 must be given as text (an exact decimal), not a number"),
        (_result(value="12,3"), "row 1: the value '12,3' is not a decimal number such as 12.3"),
        (_result(value=Decimal("NaN")), "row 1: the value NaN is not a finite number"),
        (_result(agency=" "), "row 1: the testing agency (检测机构) is required"),
        (_result(report_no=""), "row 1: the report number is required"),
        (_result(unit=""), "row 1: the unit is required"),
        (_result(sampled_at=(START + 30 * H).replace(tzinfo=None)),
         "row 1: sampled_at 2025-10-01T16:00:00 has no time zone"),
    ]  # fmt: skip
    for row, message in cases:
        _refused(engine, InvalidInput, message, adding(row))
    # one refused row stores none; the second row is named
    _refused(
        engine,
        InvalidInput,
        "row 2: the report number is required",
        adding(_result(sampled_at=NOW - H), _result(sampled_at=NOW, report_no="")),
    )
    _refused(
        engine,
        Conflict,
        f"row 1: {SO2} at 2025-10-01 16:00:00 is already stored (manual result {added[1]['id']})",
        adding(_result()),
    )
    _refused(
        engine,
        Conflict,
        f"row 2: {SO2} at 2025-10-20 11:00:00 is given twice (also row 1)",
        adding(_result(sampled_at=NOW - H), _result(sampled_at=NOW - H, value="2")),
    )
    _refused(engine, InvalidInput, "give at least one result", adding())
    with engine.connect() as conn:
        assert len(manual_results_of(conn, fid)) == 2
        assert len(fault_view(conn, fid, NOW, RULES, CAL)["manual_results"]) == 2


CSV_OK = """\ufefffactor,sampled_at,value,unit,agency,report_no
a21026,2025-10-02 08:00,12.5,mg/m3,浙江某检测有限公司,JC-1

a21026,2025-10-02T09:00:00+08:00,13.0,mg/m3,浙江某检测有限公司,JC-2
"""


def test_manual_results_from_csv(engine: Engine, world: FaultWorld) -> None:
    rows = parse_manual_csv(CSV_OK)
    assert [(r.line, r.sampled_at, r.value) for r in rows] == [
        (2, cst(2025, 10, 2, 8), "12.5"),
        (4, cst(2025, 10, 2, 9), "13.0"),
    ]
    fid = _open(engine, world)["id"]
    _event(engine, fid, "backup_started", START + 24 * H, data={"kind": "manual"})
    with engine.begin() as conn:
        assert len(add_manual_results(conn, fid, rows, by="op1", now=NOW)) == 2
    # the store's refusal names the file's line
    late = "factor,sampled_at,value,unit,agency,report_no\na21026,2025-10-03 08:00,1,mg/m3,某检测,JC-3\n" + (
        "a21002,2025-10-03 08:00,1,mg/m3,某检测,JC-3\n"
    )
    _refused(
        engine,
        InvalidInput,
        f"line 3: factor {NOX} is not one this fault covers ({SO2})",
        lambda conn: add_manual_results(conn, fid, parse_manual_csv(late), by="op1", now=NOW),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty: give a header line factor,sampled_at,value,unit,agency,report_no and the results"),
        ("factor,value\n", "line 1: the header must name the columns factor,sampled_at,value,unit,agency,report_no, "
         "not factor,value"),
        ("factor,sampled_at,value,unit,agency,report_no\n", "the file holds no results under its header"),
        ("factor,sampled_at,value,unit,agency,report_no\na21026,2025-10-02 08:00,1,mg/m3,某检测\n",
         "line 2: 5 columns, the header has 6"),
        ("factor,sampled_at,value,unit,agency,report_no\n\na21026,yesterday,1,mg/m3,某检测,JC\n",
         "line 3: sampled_at 'yesterday' is not a time such as 2026-11-22 08:00 (China time)"),
    ],
)  # fmt: skip
def test_csv_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_manual_csv(text)
    assert str(info.value) == message


# ---- lists ----


def test_list_filters_open_first_and_overdue(engine: Engine, world: FaultWorld) -> None:
    old = _open(engine, world, factors=[SO2], started_at=cst(2025, 9, 1, 8))
    _event(engine, old["id"], "restored", cst(2025, 9, 1, 20))  # within 24 h: every clock met
    recent = _open(engine, world, factors=[NOX], started_at=NOW - 2 * H)
    late = _open(engine, world, device_id=world.devices["water"], factors=[], started_at=START)
    yi = _open(engine, world, device_id=world.devices["b"], factors=[], started_at=START)
    with engine.connect() as conn:
        rows, total = list_faults(conn, FaultQuery())
        assert [r["id"] for r in rows] == [recent["id"], yi["id"], late["id"], old["id"]] and total == 4
        assert rows[0]["mn"] and rows[0]["enterprise_id"] == world.jia
        page, total = list_faults(conn, FaultQuery(limit=2, offset=1))
        assert [r["id"] for r in page] == [yi["id"], late["id"]] and total == 4  # same start: newest first
        ids = lambda q: [r["id"] for r in list_faults(conn, q)[0]]  # noqa: E731
        assert ids(FaultQuery(enterprise_id=world.yi)) == [yi["id"]]
        assert ids(FaultQuery(operator_id=world.operator)) == [recent["id"], late["id"], old["id"]]
        assert ids(FaultQuery(device_id=world.devices["water"])) == [late["id"]]
        assert ids(FaultQuery(states=["restored"])) == [old["id"]]
        assert ids(FaultQuery(device_ids={world.devices["gas"]})) == [recent["id"], old["id"]]
        assert ids(FaultQuery(device_ids=set())) == []
        # overdue at NOW: the two faults since Sep 30 (no backup after 24 h, not restored by Oct 15)
        overdue, n = list_faults(conn, FaultQuery(overdue_at=NOW), rules=RULES, calendar=CAL)
        assert [r["id"] for r in overdue] == [yi["id"], late["id"]] and n == 2
        assert [r["id"] for r in list_faults(conn, FaultQuery(overdue_at=NOW, offset=1))[0]] == [late["id"]]
        with pytest.raises(
            InvalidInput, match=r"^unknown fault state fixed \(states: open, on_backup, restored\)$"
        ):
            list_faults(conn, FaultQuery(states=["fixed"]))
        with pytest.raises(InvalidInput, match=r"^limit must be 1-1000, not 0$"):
            list_faults(conn, FaultQuery(limit=0))
        with pytest.raises(InvalidInput, match=r"^offset must not be negative, not -1$"):
            list_faults(conn, FaultQuery(offset=-1))


# ---- evidence is never rewritten ----


def test_the_journal_and_manual_results_are_append_only(engine: Engine, world: FaultWorld) -> None:
    fid = _open(engine, world)["id"]
    _event(engine, fid, "backup_started", START + 24 * H, data={"kind": "manual"})
    with engine.begin() as conn:
        add_manual_results(conn, fid, [_result()], by="op1", now=NOW)
    for sql in (
        "UPDATE fault_events SET comment = 'rewritten'",
        "DELETE FROM fault_events",
        "UPDATE manual_results SET value = '1'",
        "DELETE FROM manual_results",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
