"""``make demo``'s O&M files (envwatch.demo_om): added once through the O&M stores, each part telling the story
the pages should show (due inspections, an overdue backup clock, a running ticket clock, a blocked sampler…),
and the /om pages answering with it for the demo operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table, func, select

from envwatch import demo, demo_om
from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.core.workdays import WorkdayCalendar
from envwatch.ingest.simulator import demo_devices
from envwatch.monitoring.marks_schema import marks
from envwatch.operations import equipment, record_due, spare_parts, tickets, trainings
from envwatch.operations.assignment import require_assignable
from envwatch.operations.fault_clocks import FaultRules
from envwatch.operations.fault_reads import fault_view
from envwatch.operations.faults_schema import fault_events, faults, production_stop_events, production_stops
from envwatch.operations.ledger_schema import (
    drills,
    emergency_plans,
    equipment_events,
    spare_part_moves,
)
from envwatch.operations.ledger_schema import equipment as equipment_table
from envwatch.operations.ledger_schema import spare_parts as spare_parts_table
from envwatch.operations.records_schema import (
    field_record_materials,
    field_records,
    operator_registrations,
    reference_materials,
)
from envwatch.operations.staff_schema import staff, staff_certificates, training_results
from envwatch.operations.staff_schema import trainings as trainings_table
from envwatch.operations.tickets_schema import ticket_events
from envwatch.operations.tickets_schema import tickets as tickets_table
from envwatch.registry.schema import operators
from envwatch.web.app import create_app

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # 12:00 China time
SIMS = demo_devices(8, "2017", seed=1) + demo_devices(4, "2025", seed=2)
EXPECTED: dict[Table, int] = {
    staff: 4,
    staff_certificates: 4,
    operator_registrations: 2,
    reference_materials: 3,
    field_records: 21,  # 13 inspections, 3 calibrations, a standard check, a comparison, consumables, …
    field_record_materials: 4,  # the calibrations and the standard check cite their materials
    faults: 2,
    fault_events: 4,  # opened + commented; opened + restored
    marks: 3,  # the fault's; the stop's, and its shortened version after the early restart
    production_stops: 2,
    production_stop_events: 4,  # submitted; submitted, approved, restarted
    tickets_table: 3,
    ticket_events: 10,
    equipment_table: 3,
    equipment_events: 9,
    spare_parts_table: 3,
    spare_part_moves: 5,
    emergency_plans: 2,
    drills: 1,
    trainings_table: 5,  # two plans held (a plan and its held row each) and this quarter's plan
    training_results: 6,
}


def _counts(engine: Engine) -> dict[Table, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in EXPECTED}


def _world(engine: Engine, settings: Settings, registered: datetime, now: datetime = NOW) -> dict[str, str]:
    """The demo registry (imported as of ``registered``) and users, as ``envwatch demo`` makes them;
    the users' passwords."""
    demo.install_registry(engine, settings.data_dir, SIMS, registered)
    users = demo.install_users(engine, settings.data_dir, now, settings.password_min_length)
    return {name: password for name, _role, password in users}


def _operator(engine: Engine) -> int:
    with engine.connect() as conn:
        found = conn.execute(select(operators.c.id).where(operators.c.name == demo.OPERATOR_NAME)).scalar()
    assert found is not None
    return int(found)


def test_installed_once_through_the_stores(settings: Settings, engine: Engine) -> None:
    _world(engine, settings, NOW - demo_om.REGISTRY_AGE)
    lines = demo_om.install_om(engine, settings, NOW)
    assert not any(line.startswith("skipped") for line in lines), lines
    assert "field records by 王磊: 21; inspections due now on 4 of 8 devices under contract" in lines
    assert _counts(engine) == EXPECTED
    _the_story_the_pages_show(engine, settings)
    again = demo_om.install_om(engine, settings, NOW)
    assert again == [f"O&M demo: {demo.OPERATOR_NAME} already has 4 staff files: nothing added"]
    assert _counts(engine) == EXPECTED


def _the_story_the_pages_show(engine: Engine, settings: Settings) -> None:
    op, today = _operator(engine), to_china(NOW).date()
    with engine.connect() as conn:
        people = {r.name: r for r in conn.execute(select(staff))}
        assert (people["王磊"].username, people["李娜"].username) == ("field1", "operator1")
        with pytest.raises(InvalidInput, match=r"赵强 \(staff \d+\) has no certificate valid on 2026-11-22"):
            require_assignable(conn, people["赵强"].id, op, today)
        verdicts = conn.execute(
            select(field_records.c.kind, field_records.c.verdict).where(
                field_records.c.kind.in_(("calibration", "standard_check", "comparison"))
            )
        ).all()
        assert sorted(verdicts) == [
            ("calibration", "fail"),
            ("calibration", "pass"),
            ("calibration", "pass"),
            ("comparison", "pass"),
            ("standard_check", "pass"),
        ]
        due = record_due.inspection_due(conn, op, NOW, settings.om_inspection_every_days)
        assert [d["last_at"] is None for d in due] == [True, True, False, False]  # never, then 9 days ago
        compared = conn.execute(
            select(field_records.c.device_id).where(field_records.c.kind == "comparison")
        ).scalar_one()
        assert compared not in {d["device_id"] for d in record_due.comparison_due(conn, op, NOW)}
        open_fault = conn.execute(select(faults.c.id).where(faults.c.state == "open")).scalar_one()
        clocks = fault_view(conn, open_fault, NOW, FaultRules(), WorkdayCalendar())["clocks"]
        assert {c.name: c.state for c in clocks}["backup_required"] == "overdue"
        waiting = conn.execute(select(tickets_table).where(tickets_table.c.state == "requested")).mappings()
        (ticket,) = list(waiting)
        assert {c.name: c.state for c in tickets.projected_clocks(dict(ticket), NOW)}["respond"] == "running"
        assert (
            conn.execute(select(tickets_table.c.score).where(tickets_table.c.state == "closed")).scalar() == 5
        )
        states = sorted(conn.execute(select(production_stops.c.state)).scalars())
        assert states == ["restarted", "submitted"]
        (soon,) = equipment.verification_due(conn, op, today)
        assert (soon["name"], soon["days_left"]) == ("SO2/NOx 气体分析仪", 20)
        low = [p["name"] for p in spare_parts.stock(conn, op) if p["below_min"]]
        assert low == ["采样探头滤芯"]
        last_quarter = trainings.quarterly_status(conn, op, 2026, 3)
        assert (last_quarter.passed, last_quarter.total) == (3, 4)
        assert trainings.sampling_label_status(conn, op).complete


def test_a_registry_imported_now_leaves_out_the_earlier_field_records(
    settings: Settings, sqlite_engine: Engine
) -> None:
    """A data directory whose registry is younger than the story (as the demo before the O&M files made
    it): the records store refuses work dated before a device was registered, so those records are
    skipped and the lines say so; the rest is added."""
    _world(sqlite_engine, settings, NOW)
    lines = demo_om.install_om(sqlite_engine, settings, NOW)
    assert lines[-1] == (
        "skipped: field records dated before their device was registered (6 devices, registered from "
        "2026-11-22 12:00 China time)"
    )
    counts = _counts(sqlite_engine)
    assert counts[field_records] == 0 and counts[tickets_table] == 3 and counts[staff] == 4


@pytest.fixture
def page_settings(tmp_path: Path) -> Settings:
    # plain http in the test client: the session cookie must not be Secure
    return Settings(data_dir=tmp_path / "var", cookie_secure=False, _env_file=None)  # type: ignore[call-arg]


PAGES = {  # data, not page strings: the same in either language
    "/om/records": ("王磊", "太原示范水务有限公司"),  # a record by 王磊; 水务's devices never inspected (due)
    "/om/faults": ("山西示范焦化有限公司", "太原示范热电有限公司"),  # the open fault; enterprise1's stops
    "/om/tickets": ("SO2 数据持续偏低", "平台缺少昨夜数据"),
    "/om/staff": ("赵强", "SXYW-2023-0342"),  # the sampler; 陈静's certificate among the renewals due
    "/om/ledger": ("SO2/NOx 气体分析仪", "采样探头滤芯"),  # verification due; the part below its minimum
}


def test_om_pages_show_it_to_the_operator(page_settings: Settings) -> None:
    from envwatch.core.db import make_engine
    from envwatch.migrations import upgrade

    engine = make_engine(page_settings)
    upgrade(engine)
    try:
        now = datetime.now(UTC)  # the pages read the real clock
        passwords = _world(engine, page_settings, now - demo_om.REGISTRY_AGE, now)
        demo_om.install_om(engine, page_settings, now - timedelta(seconds=1))
        with TestClient(create_app(page_settings, engine)) as client:
            r = client.post(
                "/login",
                data={"username": "operator1", "password": passwords["operator1"]},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            for path, shown in PAGES.items():
                page = client.get(path)
                assert page.status_code == 200, (path, page.text[:500])
                for text in shown:
                    assert text in page.text, (path, text)
    finally:
        engine.dispose()
