"""``evidence.sources``: the kinds, and how recheck judges a row copy or a raw batch against its source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from envwatch.alarms.schema import alarm_events
from envwatch.alarms.store import Raised, alarm_events_of, raise_alarm
from envwatch.core.db import metadata
from envwatch.core.evidence import submit, submit_row
from envwatch.evidence.sources import (
    KINDS,
    KINDS_EN,
    SOURCE_TABLES,
    can_recheck,
    kind_name,
    recheck,
    unchecked_kinds,
)
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_schema import marks
from envwatch.monitoring.marks_store import create_mark
from tests.evidence.test_wiring_support import entries, tamper
from tests.helpers import GAS_MN, NOW, register_demo_devices

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def test_every_kind_has_both_names_and_every_row_kind_a_table() -> None:
    assert set(KINDS) == set(KINDS_EN)
    assert all(KINDS.values()) and all(KINDS_EN.values())
    assert set(SOURCE_TABLES) <= set(KINDS)
    assert all(name in metadata.tables for name in SOURCE_TABLES.values())
    assert (
        kind_name("custody_event") == "样品流转记录" and kind_name("custody_event", "en") == "Custody event"
    )
    assert kind_name("something_new") == "something_new"


def _mark(engine: Engine, reason: str) -> int:
    gas = register_demo_devices(engine)[GAS_MN]
    draft = MarkDraft("a21026", T0, T0 + timedelta(hours=2), "maintenance", reason, "operator")
    with engine.begin() as conn:
        return int(create_mark(conn, gas, draft, created_by="企业甲", now=NOW, policy=MarkPolicy())["id"])


def test_a_custom_payload_is_not_rechecked_and_its_kind_is_listed(engine: Engine) -> None:
    _mark(engine, "日常维护")
    with engine.begin() as conn:
        submit(conn, "verify_run", "evidence_verify_runs/1", {"ok": True}, NOW)
        submit(conn, "verify_run", "evidence_verify_runs/2", {"ok": False}, NOW)
        custom, row = entries(conn, kind="verify_run")[0], entries(conn, kind="mark")[0]
        assert not can_recheck(custom.kind, custom.payload) and can_recheck(row.kind, row.payload)
        assert recheck(conn, custom.kind, custom.ref, custom.payload) == []
        assert unchecked_kinds(conn) == ["verify_run"]
        # a row copy of a table nobody knows cannot be judged either
        unknown = {"table": "no_such_table", "id": 1, "row": {"x": 1}}
        assert not can_recheck("mark", unknown) and recheck(conn, "mark", "no_such_table/1", unknown) == []
        assert not can_recheck("raw_batch", {"sha256": "00"})


def test_row_lines_name_table_id_and_column_with_values_shortened(engine: Engine) -> None:
    mark_id = _mark(engine, "日常维护")
    with engine.connect() as conn:
        (entry,) = entries(conn, kind="mark")
    tamper(engine, marks, mark_id, reason="很长的理由" * 20)
    with engine.connect() as conn:
        (line,) = recheck(conn, entry.kind, entry.ref, entry.payload)
        assert line == f'marks/{mark_id} reason: logged "日常维护", now "{("很长的理由" * 12)[:58]}…'
        assert len(line.split("now ")[1]) == 60
        # a logged column the table no longer has, and a ref that names another row
        changed = {**entry.payload, "row": {**entry.payload["row"], "colour": "red"}}
        assert recheck(conn, entry.kind, "marks/999", changed)[:2] == [
            f"marks/999: the entry's ref does not name its row marks/{mark_id}",
            f"marks/{mark_id} colour: column missing",
        ]


def test_json_columns_compare_by_content_not_key_order(engine: Engine) -> None:
    gas = register_demo_devices(engine)[GAS_MN]
    raised = Raised(gas, "exceedance", "a21026", NOW, "test rule", "SO2 over", peak="40", limit_value="35")
    with engine.begin() as conn:
        alarm_id = raise_alarm(conn, raised, NOW, ack_due_s=60).alarm_id
        event = alarm_events_of(conn, alarm_id)[0]
        (entry,) = entries(conn, kind="alarm_event")
    data = event["data"]
    tamper(engine, alarm_events, event["id"], data=dict(reversed(list(data.items()))))
    with engine.connect() as conn:
        assert recheck(conn, entry.kind, entry.ref, entry.payload) == []
    tamper(engine, alarm_events, event["id"], data={**data, "peak": "20"})
    with engine.connect() as conn:
        (line,) = recheck(conn, entry.kind, entry.ref, entry.payload)
    assert line.startswith(f"alarm_events/{event['id']} data: logged {{")


def test_a_row_copy_submitted_by_anyone_is_rechecked(engine: Engine) -> None:
    """Another context's submit_row of a table with an id (e.g. a video record) needs no code here."""
    mark_id = _mark(engine, "日常维护")
    with engine.begin() as conn:
        submit_row(conn, marks, mark_id, kind="someone_elses_kind", now=NOW, columns=["code"])
        (entry,) = entries(conn, kind="someone_elses_kind")
    tamper(engine, marks, mark_id, code="shutdown")
    with engine.connect() as conn:
        assert recheck(conn, entry.kind, entry.ref, entry.payload) == [
            f'marks/{mark_id} code: logged "maintenance", now "shutdown"'
        ]


def test_a_raw_batch_payload_that_contradicts_itself(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        empty = "0" * 64
        assert recheck(conn, "raw_batch", "raw_packets/1-1", {"ids": [], "count": 0, "sha256": empty}) == [
            "raw_packets/1-1: the entry lists no packet ids"
        ]
        runs = [[i, i] for i in range(1, 30, 2)]  # 15 runs, none stored
        lines = recheck(conn, "raw_batch", "raw_packets/1-5", {"ids": runs, "count": 3, "sha256": empty})
    assert lines == [
        "raw_packets/1-5: the entry's ref does not match its ids (raw_packets/1-29)",
        "raw_packets/1-5: the entry counts 3 packets, its ids 15",
        "raw_packets/1-5: 15 of 15 packets missing: raw_packets/1, 3, 5, 7, 9, 11, 13, 15, 17, 19 and 5 more runs",
    ]
