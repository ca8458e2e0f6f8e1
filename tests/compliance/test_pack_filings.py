"""Rule pack ``filings`` (SX-14, SX-15) on filings recorded through ``registry.filings``.

The registry is the records world (NOW 2026-11-22 12:00 China time; 甲's gas device under 运维甲). November
2026 has no public holiday: the 5th working day after Monday 2 November is Monday 9 November.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Engine

from envwatch.compliance.packs import filings as pack
from envwatch.compliance.rules import Found, Link
from envwatch.compliance.run import run_rules
from envwatch.core.settings import Settings
from envwatch.registry.filings import add_step, create_filing
from tests.compliance.world_duties import NOW, build, china, evaluate, with_params
from tests.helpers import first_uncovered_year
from tests.operations.records_world import RecordsWorld


def filing(
    engine: Engine,
    w: RecordsWorld,
    kind: str,
    event_at: datetime,
    *,
    created: datetime | None = None,
    where: str = "device",
    steps: tuple[tuple[str, datetime], ...] = (),
) -> int:
    """A filing of 甲 at its gas device (``where``: device, outlet or enterprise), recorded a day before the
    event unless ``created`` says when, with its steps recorded when done."""
    row = create_filing(
        engine, kind=kind, enterprise_id=w.enterprises["jia"], title=f"{kind} {event_at:%m-%d}",
        event_at=event_at, created_by="ent", now=created or event_at - timedelta(days=1),
        outlet_id=None if where == "enterprise" else w.outlets["gas"],
        device_id=w.devices["gas"] if where == "device" else None,
    )  # fmt: skip
    for step, done in steps:
        add_step(engine, row["id"], step=step, done_at=done, recorded_by="ent", now=max(done, NOW))
    return int(row["id"])


def keys(items: list[Found]) -> list[str]:
    return [f.key for f in items]


def test_major_change_within_168_hours(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    late = filing(
        engine, w, "major_change", china(2026, 11, 10, 8), steps=(("reconnected", china(2026, 11, 17, 9)),)
    )
    filing(engine, w, "major_change", china(2026, 11, 1, 8), steps=(("reconnected", china(2026, 11, 5, 8)),))
    open_ = filing(engine, w, "major_change", china(2026, 11, 12, 8), where="outlet")
    filing(engine, w, "major_change", china(2026, 11, 20, 8))  # still within its 168 h
    filing(engine, w, "major_change", china(2026, 11, 1, 8), steps=(("withdrawn", china(2026, 11, 2, 8)),))
    withdrawn_late = filing(
        engine, w, "major_change", china(2026, 10, 1, 8), steps=(("withdrawn", china(2026, 10, 20, 8)),)
    )
    found = evaluate(engine, settings, "SX-14-168H")
    assert keys(found) == [f"filing:{late}", f"filing:{open_}", f"filing:{withdrawn_late}"]
    first = found[0]
    assert (first.subject_kind, first.subject_id, first.severity) == (
        "enterprise",
        w.enterprises["jia"],
        "violation",
    )
    assert (first.outlet_id, first.device_id, first.operator_id) == (w.outlets["gas"], w.devices["gas"], w.op)
    assert first.evidence == (Link("filing", str(late), "major_change 11-10"),)
    assert "only at 2026-11-17 09:00, 169.0 h after" in first.message and "168小时" in first.message
    assert (first.period_start, first.period_end) == (china(2026, 11, 10, 8), china(2026, 11, 17, 8))
    # an outlet-wide filing names the operator of the device on that outlet
    assert (found[1].device_id, found[1].operator_id) == (None, w.op)
    assert "not reconnected" in found[1].message
    # a province allowing 170 h: the change reconnected after 169 h is on time
    assert keys(evaluate(engine, settings, "SX-14-168H", hours=170)) == [
        f"filing:{open_}",
        f"filing:{withdrawn_late}",
    ]
    # as of 17 Nov 08:30 the reconnection was not done yet: the late filing was then overdue and open
    assert (
        "not reconnected" in evaluate(engine, settings, "SX-14-168H", china(2026, 11, 17, 8, 30))[0].message
    )


def test_gas_core_part_debug_test_within_72_hours(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    late = filing(
        engine, w, "gas_core_part", china(2026, 11, 10, 8), steps=(("debug_tested", china(2026, 11, 13, 9)),)
    )
    filing(
        engine, w, "gas_core_part", china(2026, 11, 14, 8), steps=(("debug_tested", china(2026, 11, 15, 8)),)
    )
    found = evaluate(engine, settings, "SX-14-72H")
    assert keys(found) == [f"filing:{late}"]
    assert found[0].operator_id == w.op and "73.0 h" in found[0].message and "72小时" in found[0].message
    assert evaluate(engine, settings, "SX-14-72H", hours=80) == []


def test_refiling_within_5_working_days(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    filing(engine, w, "content_change", china(2026, 11, 2, 10), where="enterprise",
           steps=(("filed", china(2026, 11, 9, 23, 59)),))  # fmt: skip
    late = filing(engine, w, "content_change", china(2026, 11, 2, 10), where="enterprise",
                  steps=(("filed", china(2026, 11, 10, 9)),))  # fmt: skip
    filing(engine, w, "content_change", china(2026, 11, 18, 10), where="enterprise")  # due by 25 Nov
    # a change whose period runs into a year the calendar does not know is left out, not an error
    year = first_uncovered_year()
    filing(engine, w, "content_change", china(year - 1, 12, 30, 10), where="enterprise", created=NOW)
    found = evaluate(engine, settings, "SX-15-5WD")
    assert keys(found) == [f"filing:{late}"]
    assert (found[0].outlet_id, found[0].device_id, found[0].operator_id) == (None, None, None)
    assert "due by 2026-11-10 00:00" in found[0].message and "5个工作日" in found[0].message
    assert evaluate(engine, settings, "SX-15-5WD", workdays=6) == []


def test_major_change_filed_after_it_started(engine: Engine, settings: Settings) -> None:
    w = build(engine)
    filing(
        engine, w, "major_change", china(2026, 11, 10, 8), steps=(("reconnected", china(2026, 11, 11, 8)),)
    )
    after = filing(engine, w, "major_change", china(2026, 11, 10, 8), created=china(2026, 11, 10, 10))
    filing(engine, w, "major_change", china(2026, 11, 1, 8), created=china(2026, 11, 1, 9),
           steps=(("withdrawn", china(2026, 11, 2, 8)),))  # fmt: skip
    found = evaluate(engine, settings, "SX-14-BEFORE")
    assert keys(found) == [f"filing:{after}"]
    assert found[0].severity == "warning" and "2.0 h after" in found[0].message
    assert evaluate(engine, settings, "SX-14-BEFORE", grace_minutes=120) == []
    # a filing recorded after the moment judged is not known then
    assert evaluate(engine, settings, "SX-14-BEFORE", china(2026, 11, 10, 9)) == []


def test_pack_through_the_runner_is_idempotent_and_takes_overrides(
    engine: Engine, settings: Settings
) -> None:
    w = build(engine)
    filing(engine, w, "major_change", china(2026, 11, 10, 8), created=china(2026, 11, 10, 10),
           steps=(("reconnected", china(2026, 11, 17, 9)),))  # fmt: skip
    filing(engine, w, "content_change", china(2026, 11, 2, 10), steps=(("filed", china(2026, 11, 10, 9)),))
    rule_ids = [rule.id for rule in pack.RULES]
    first = run_rules(engine, settings, at=NOW, rule_ids=rule_ids)
    assert first.ok, first.rules
    assert {r: o["found"] for r, o in first.rules.items()} == {
        "SX-14-168H": 1, "SX-14-72H": 0, "SX-15-5WD": 1, "SX-14-BEFORE": 1,
    }  # fmt: skip
    again = run_rules(engine, settings, at=NOW, rule_ids=rule_ids)
    assert {r: (o["opened"], o["still_open"], o["resolved"]) for r, o in again.rules.items()} == {
        "SX-14-168H": (0, 1, 0), "SX-14-72H": (0, 0, 0), "SX-15-5WD": (0, 1, 0), "SX-14-BEFORE": (0, 1, 0),
    }  # fmt: skip
    loose = with_params(settings, "SX-15-5WD", workdays=6)
    third = run_rules(engine, loose, at=NOW, rule_ids=["SX-15-5WD"])
    assert third.rules["SX-15-5WD"] == {**third.rules["SX-15-5WD"], "found": 0, "resolved": 1}
    assert date(2026, 11, 2).weekday() == 0
