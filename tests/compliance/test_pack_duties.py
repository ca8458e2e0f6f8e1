"""Rule pack ``duties`` (SX-20.3, SX-18.6, SX-20.5, SX-32, SX-18.7, SX-19, CS-4.4.3) on a real store.

The world is ``tests.compliance.world_duties`` (NOW is 2026-11-22 12:00 China time: the last complete
quarter is 2026Q3, the last complete month 2026-10). Boundaries are China days: a record at 00:10 on
1 November China time is 31 October in UTC and belongs to November.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine

from envwatch.compliance.packs import duties
from envwatch.compliance.rules import Found, Link
from envwatch.compliance.run import run_rules
from envwatch.core.settings import Settings
from envwatch.operations.equipment import add_equipment, record_event
from envwatch.operations.registrations import register, withdraw
from envwatch.registry import service as svc
from envwatch.registry.models import EnterpriseIn
from tests.compliance.world_duties import (
    NOW,
    build,
    china,
    evaluate,
    record,
    report,
    store,
    stored,
    weekly,
    with_params,
)
from tests.operations.records_world import REGISTERED, RecordsWorld, credit_code


def by_key(items: list[Found]) -> dict[str, Found]:
    return {f.key: f for f in items}


# ---- SX-20.3-7D ----


def _inspections(engine: Engine) -> tuple[dict[str, int], RecordsWorld]:
    w = build(engine)
    with engine.begin() as conn:
        # gas: weekly, but the inspection entered for 8 Oct was corrected to 14 Oct: an 11-day gap
        gas = weekly(conn, w, "gas", china(2026, 7, 25, 10), china(2026, 10, 3, 10))
        wrong = record(conn, w, "gas", china(2026, 10, 8, 10))
        fixed = record(conn, w, "gas", china(2026, 10, 14, 10), supersedes=wrong)
        weekly(conn, w, "gas", china(2026, 10, 21, 10), NOW)
        # water: weekly until 7 Nov, nothing since (15 days at NOW)
        water = weekly(conn, w, "water", china(2026, 7, 25, 10), china(2026, 11, 7, 10))
        # 乙's device: never inspected
    ids = {"gas_oct3": gas[-1], "gas_oct14": fixed, "water_nov7": water[-1]}
    return ids, w


def test_inspection_gaps_now_and_in_the_past(engine: Engine, settings: Settings) -> None:
    ids, w = _inspections(engine)
    found = by_key(evaluate(engine, settings, "SX-20.3-7D"))
    gas, water, other = (w.devices[k] for k in ("gas", "water", "other"))
    assert sorted(found) == sorted(
        [f"device:{gas}:after:2026-10-03", f"device:{water}:after:2026-11-07", f"device:{other}:after:never"]
    )
    past = found[f"device:{gas}:after:2026-10-03"]  # fixed later, still a missed duty
    assert (past.subject_kind, past.subject_id, past.operator_id) == ("device", gas, w.op)
    assert past.enterprise_id == w.enterprises["jia"] and past.outlet_id == w.outlets["gas"]
    assert past.evidence[1:] == (
        Link("record", str(ids["gas_oct3"]), "2026-10-03 10:00"),
        Link("record", str(ids["gas_oct14"]), "2026-10-14 10:00"),
    )
    assert (past.period_start, past.period_end) == (china(2026, 10, 3, 10), china(2026, 10, 14, 10))
    assert "11.0 days" in past.message and "巡检" in past.message
    now = found[f"device:{water}:after:2026-11-07"]
    assert now.operator_id == w.op and now.period_end == NOW
    assert now.evidence[1] == Link("record", str(ids["water_nov7"]), "2026-11-07 10:00")
    never = found[f"device:{other}:after:never"]
    # 运维乙's contract began 2026-01-01 (China day); the device was registered at 08:00 that day
    assert never.operator_id == w.other_op and never.period_start == REGISTERED


def test_inspection_gap_overdue_as_of_an_earlier_moment_keeps_its_key(
    engine: Engine, settings: Settings
) -> None:
    _, w = _inspections(engine)
    gas = w.devices["gas"]
    # 7 days after 3 Oct 10:00 the inspection is still on time; an hour later it is overdue
    assert f"device:{gas}:after:2026-10-03" not in by_key(
        evaluate(engine, settings, "SX-20.3-7D", china(2026, 10, 10, 10))
    )
    later = by_key(evaluate(engine, settings, "SX-20.3-7D", china(2026, 10, 10, 11)))
    assert later[f"device:{gas}:after:2026-10-03"].period_end == china(2026, 10, 10, 11)


def test_inspection_parameters(engine: Engine, settings: Settings) -> None:
    _, w = _inspections(engine)
    gas, water = w.devices["gas"], w.devices["water"]
    # 12 days allowed: the 11-day gap is fine, the 15 days since 7 Nov are not
    keys = set(by_key(evaluate(engine, settings, "SX-20.3-7D", days=12)))
    assert f"device:{gas}:after:2026-10-03" not in keys and f"device:{water}:after:2026-11-07" in keys
    # a 30-day look back no longer reaches the gap that ended on 14 Oct
    keys = set(by_key(evaluate(engine, settings, "SX-20.3-7D", lookback_days=30)))
    assert f"device:{gas}:after:2026-10-03" not in keys and f"device:{water}:after:2026-11-07" in keys


def test_inspection_on_time_everywhere_finds_nothing(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    with engine.begin() as conn:
        for device in ("gas", "water", "other"):
            weekly(conn, w, device, china(2026, 1, 1, 10), NOW)
    assert evaluate(engine, settings, "SX-20.3-7D") == []


# ---- SX-18.6-Q / SX-18.6-M ----


def test_gas_comparison_each_quarter(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    with engine.begin() as conn:
        record(conn, w, "gas", china(2026, 9, 30, 23, 30), kind="comparison")  # Q3 in China time
        early = record(conn, w, "other", china(2026, 8, 10, 10), kind="comparison")
        record(conn, w, "other", china(2026, 10, 2, 10), kind="comparison", supersedes=early)  # really in Q4
        record(conn, w, "other", china(2026, 10, 1, 0, 10), kind="comparison")  # Q3 in UTC only
    found = evaluate(engine, settings, "SX-18.6-Q")
    other = w.devices["other"]
    assert [f.key for f in found] == [f"device:{other}:2026Q3"]
    assert (found[0].operator_id, found[0].enterprise_id) == (w.other_op, w.enterprises["yi"])
    assert (found[0].period_start, found[0].period_end) == (china(2026, 7, 1), china(2026, 10, 1))
    assert "比对监测" in found[0].message


def test_water_comparison_each_month_and_a_late_entry_resolves(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    water = w.devices["water"]
    with engine.begin() as conn:
        record(conn, w, "water", china(2026, 11, 1, 0, 10), kind="comparison")  # November in China time
    store(engine, settings, "SX-18.6-M")
    assert list(stored(engine, "SX-18.6-M")) == [f"device:{water}:2026-10"]
    assert stored(engine, "SX-18.6-M")[f"device:{water}:2026-10"]["operator_id"] == w.op
    with engine.begin() as conn:
        record(conn, w, "water", china(2026, 10, 31, 23, 30), kind="comparison")
    assert evaluate(engine, settings, "SX-18.6-M") == []
    assert store(engine, settings, "SX-18.6-M")["resolved"] == 1


# ---- SX-20.5 / SX-32-GAS ----


def test_expired_material_per_record_and_material(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    with engine.begin() as conn:
        late = record(conn, w, "gas", china(2026, 11, 1, 0, 30), kind="calibration", materials=("so2", "old"))
        record(conn, w, "gas", china(2026, 10, 31, 23, 0), kind="calibration", materials=("old",))  # last day
        wrong = record(conn, w, "gas", china(2026, 11, 2, 10), kind="calibration", materials=("old",))
        record(
            conn, w, "gas", china(2026, 11, 2, 10), kind="calibration", materials=("so2",), supersedes=wrong
        )
    found = evaluate(engine, settings, "SX-20.5")
    old = w.materials["old"]
    assert [f.key for f in found] == [f"record:{late}:material:{old}"]
    f = found[0]
    assert (f.subject_kind, f.device_id, f.operator_id, f.severity) == (
        "device",
        w.devices["gas"],
        w.op,
        "violation",
    )
    assert f.evidence == (
        Link("record", str(late), "2026-11-01 00:30"),
        Link("material", str(old), "GBW(E)-000"),
    )
    assert "valid until 2026-10-31" in f.message and "1 days after" in f.message


def test_operator_warning_for_expired_materials_in_the_quarter(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    with engine.begin() as conn:
        a = record(conn, w, "water", china(2026, 8, 10, 10), kind="standard_check", materials=("older",))
        b = record(conn, w, "water", china(2026, 9, 1, 10), kind="standard_check", materials=("older", "old"))
        record(conn, w, "gas", china(2026, 11, 1, 10), kind="calibration", materials=("old",))  # Q4
        record(conn, w, "other", china(2026, 8, 10, 10), kind="calibration", materials=("theirs",))
    found = evaluate(engine, settings, "SX-32-GAS")
    assert [f.key for f in found] == [f"operator:{w.op}:2026Q3"]
    f = found[0]
    assert (f.subject_kind, f.subject_id, f.operator_id, f.severity) == ("operator", w.op, w.op, "warning")
    assert [link.kind + ":" + link.ref for link in f.evidence] == [
        f"operator:{w.op}",
        f"record:{a}",
        f"record:{b}",
        f"material:{w.materials['older']}",  # "old" was still valid in September
    ]
    assert evaluate(engine, settings, "SX-32-GAS", min_records=2) == found
    assert evaluate(engine, settings, "SX-32-GAS", min_records=3) == []


# ---- SX-18.7-Q ----


def test_self_inspection_report_missing_then_late(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    jia, yi = w.enterprises["jia"], w.enterprises["yi"]
    with engine.begin() as conn:
        # 丙 has no monitored outlet: no report is asked of it
        svc.create_enterprise(
            conn, EnterpriseIn(name="丙", credit_code=credit_code(3), region_code="330102"), REGISTERED
        )
        report(conn, jia, 2026, 3, china(2026, 10, 15, 23, 59))  # on the due day
    store(engine, settings, "SX-18.7-Q")
    findings = stored(engine, "SX-18.7-Q")
    assert list(findings) == [f"enterprise:{yi}:2026Q3"]
    row = findings[f"enterprise:{yi}:2026Q3"]
    assert (row["subject_kind"], row["subject_id"], row["severity"]) == ("enterprise", yi, "violation")
    assert "due by 2026-10-15" in row["message"]
    with engine.begin() as conn:
        late = report(conn, yi, 2026, 3, china(2026, 11, 1, 9))
    store(engine, settings, "SX-18.7-Q")
    row = stored(engine, "SX-18.7-Q")[f"enterprise:{yi}:2026Q3"]
    assert (row["state"], row["severity"]) == ("open", "warning")
    assert {"kind": "self_inspection_report", "ref": str(late), "label": "2026-11-01 09:00"} in row[
        "evidence"
    ]
    # judged as of a moment before the late report, it is still missing
    earlier = evaluate(engine, settings, "SX-18.7-Q", china(2026, 10, 20))
    assert [(f.key, f.severity) for f in earlier] == [(f"enterprise:{yi}:2026Q3", "violation")]


def test_self_inspection_due_days_decide_the_quarter_judged(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    jia, yi = w.enterprises["jia"], w.enterprises["yi"]
    with engine.begin() as conn:
        report(conn, jia, 2026, 2, china(2026, 7, 10))
    # with 60 days the Q3 report is not due before 29 Nov: Q2 is judged, and only 乙 missed it
    found = evaluate(engine, settings, "SX-18.7-Q", due_days=60)
    assert [f.key for f in found] == [f"enterprise:{yi}:2026Q2"]
    assert duties.judged_quarter(NOW, 15).label == "2026Q3"
    assert duties.judged_quarter(china(2026, 10, 16), 15).label == "2026Q2"  # due at 24:00 on 15 Oct
    assert duties.judged_quarter(china(2026, 10, 16, 0, 0, 1), 15).label == "2026Q3"


# ---- SX-19 ----


def test_operator_without_registration_in_the_city(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    with engine.begin() as conn:
        mine = register(
            conn, operator_id=w.op, region_code="330100", bureau="杭州市生态环境局", reference_no="HZ-1",
            registered_on=date(2026, 1, 1), valid_until=None, recorded_by="t", now=REGISTERED,
        )  # fmt: skip
        register(
            conn, operator_id=w.other_op, region_code="440100", bureau="广州市生态环境局", reference_no="GZ-1",
            registered_on=date(2026, 1, 1), valid_until=date(2026, 10, 31), recorded_by="t", now=REGISTERED,
        )  # fmt: skip
        register(  # another city does not help
            conn, operator_id=w.other_op, region_code="330100", bureau="杭州市生态环境局", reference_no="HZ-2",
            registered_on=date(2026, 1, 1), valid_until=None, recorded_by="t", now=REGISTERED,
        )  # fmt: skip
    found = evaluate(engine, settings, "SX-19")
    assert [f.key for f in found] == [f"operator:{w.other_op}:region:440100"]
    f = found[0]
    assert (f.subject_kind, f.subject_id, f.operator_id) == ("operator", w.other_op, w.other_op)
    assert f.evidence[1] == Link("enterprise", str(w.enterprises["yi"]), "乙热电")
    with engine.begin() as conn:
        withdraw(conn, mine["id"], on=date(2026, 11, 20), recorded_by="t", now=NOW)
        register(
            conn, operator_id=w.other_op, region_code="440100", bureau="广州市生态环境局", reference_no="GZ-3",
            registered_on=date(2026, 11, 1), valid_until=None, recorded_by="t", now=NOW,
        )  # fmt: skip
    assert [f.key for f in evaluate(engine, settings, "SX-19")] == [f"operator:{w.op}:region:330100"]
    # before the withdrawal took effect 运维甲 was registered
    assert evaluate(engine, settings, "SX-19", china(2026, 11, 19, 12)) == []


# ---- CS-4.4.3-VERIFY ----


def test_equipment_past_its_verification(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    with engine.begin() as conn:

        def item(kind: str, serial: str) -> int:
            return int(
                add_equipment(
                    conn, operator_id=w.op, kind=kind, name="SO2 分析仪", model="M1", serial=serial,
                    purchased_on=date(2026, 2, 1), recorded_by="t", now=NOW,
                )["id"]
            )  # fmt: skip

        analyser, meter, tool = item("analyser", "A1"), item("meter", "B1"), item("tool", "C1")
        record_event(
            conn,
            analyser,
            event="installed",
            on=date(2026, 2, 2),
            device_id=w.devices["gas"],
            recorded_by="t",
            now=NOW,
        )
        record_event(
            conn,
            analyser,
            event="verified",
            on=date(2026, 2, 3),
            next_due=date(2026, 11, 1),
            recorded_by="t",
            now=NOW,
        )
        record_event(
            conn,
            meter,
            event="verified",
            on=date(2026, 2, 3),
            next_due=date(2027, 2, 1),
            recorded_by="t",
            now=NOW,
        )
        record_event(
            conn,
            tool,
            event="verified",
            on=date(2026, 2, 3),
            next_due=date(2026, 10, 1),
            recorded_by="t",
            now=NOW,
        )
        record_event(
            conn, tool, event="scrapped", on=date(2026, 10, 15), comment="损坏", recorded_by="t", now=NOW
        )
    found = evaluate(engine, settings, "CS-4.4.3-VERIFY")
    assert [f.key for f in found] == [f"equipment:{analyser}:due:2026-11-01"]
    f = found[0]
    assert (f.subject_kind, f.subject_id, f.operator_id) == ("operator", w.op, w.op)
    assert (f.device_id, f.enterprise_id) == (w.devices["gas"], w.enterprises["jia"])
    assert [link.kind for link in f.evidence] == ["equipment", "device"]
    # as of 10 Oct the scrapped tool was still in use and overdue; the analyser was not due yet
    assert [f.key for f in evaluate(engine, settings, "CS-4.4.3-VERIFY", china(2026, 10, 10))] == [
        f"equipment:{tool}:due:2026-10-01"
    ]
    with engine.begin() as conn:
        record_event(
            conn,
            analyser,
            event="verified",
            on=date(2026, 11, 20),
            next_due=date(2027, 11, 20),
            recorded_by="t",
            now=NOW,
        )
    assert evaluate(engine, settings, "CS-4.4.3-VERIFY") == []
    assert len(evaluate(engine, settings, "CS-4.4.3-VERIFY", china(2026, 11, 10))) == 1


# ---- the pack through the runner ----


def test_pack_through_the_runner_is_idempotent_and_takes_overrides(
    engine: Engine, settings: Settings
) -> None:
    w = build(engine)
    with engine.begin() as conn:
        weekly(conn, w, "water", china(2026, 7, 25, 10), china(2026, 11, 7, 10))
        record(conn, w, "gas", china(2026, 11, 1, 0, 30), kind="calibration", materials=("old",))
    rule_ids = [rule.id for rule in duties.RULES]
    first = run_rules(engine, settings, at=NOW, rule_ids=rule_ids)
    assert first.ok, first.rules
    counts = {rule: outcome["found"] for rule, outcome in first.rules.items()}
    assert counts["SX-20.3-7D"] == 3  # gas and 乙's device never inspected, water since 7 Nov
    assert counts["SX-20.5"] == 1 and counts["SX-19"] == 2 and counts["SX-18.7-Q"] == 2
    again = run_rules(engine, settings, at=NOW, rule_ids=rule_ids)
    for rule, outcome in again.rules.items():
        assert outcome["opened"] == outcome["reopened"] == outcome["resolved"] == 0, rule
        assert outcome["still_open"] == counts[rule], rule
    assert stored(engine, "SX-20.5")[next(iter(stored(engine, "SX-20.5")))]["operator_id"] == w.op
    # a province allowing 20 days: the water device (15 days) is no longer overdue, and its finding resolves
    loose = with_params(settings, "SX-20.3-7D", days=20)
    third = run_rules(engine, loose, at=NOW, rule_ids=["SX-20.3-7D"])
    assert third.rules["SX-20.3-7D"]["found"] == 2 and third.rules["SX-20.3-7D"]["resolved"] == 1
    assert timedelta(days=20) > NOW - china(2026, 11, 7, 10)
