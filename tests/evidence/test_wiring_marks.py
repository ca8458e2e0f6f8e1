"""Monitoring marks in the evidence log: each mark, correction, withdrawal and review is one entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from envwatch.core.errors import Conflict
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_schema import mark_reviews, marks
from envwatch.monitoring.marks_store import create_mark, review_mark, supersede_mark, withdraw_mark
from tests.evidence.test_wiring_support import (
    assert_one_entry_per_new_row,
    entries,
    last_entry_id,
    recheck_all,
    remove,
    snapshot,
    tamper,
)
from tests.helpers import GAS_MN, NOW, register_demo_devices

POLICY = MarkPolicy()
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)


def draft(reason: str = "日常维护", end: datetime = T0 + 2 * H) -> MarkDraft:
    return MarkDraft("a21026", T0, end, "maintenance", reason, "operator")


def test_marks_corrections_withdrawals_and_reviews(engine: Engine) -> None:
    gas = register_demo_devices(engine)[GAS_MN]
    with engine.begin() as conn:
        before = snapshot(conn)
        first = create_mark(conn, gas, draft(), created_by="企业甲", now=NOW, policy=POLICY)
        (one,) = assert_one_entry_per_new_row(conn, before, NOW)
    assert (one.kind, one.ref) == ("mark", f"marks/{first['id']}")
    later = NOW + H
    with engine.begin() as conn:
        before = snapshot(conn)
        second = supersede_mark(
            conn, first["id"], draft(end=T0 + 3 * H), created_by="企业甲", now=later, policy=POLICY
        )
        review = review_mark(conn, second["id"], decision="approved", note="", reviewed_by="监管", now=later)
        third = withdraw_mark(
            conn,
            second["id"],
            reason="误标",
            source="operator",
            created_by="企业甲",
            now=later,
            policy=POLICY,
        )
        made = assert_one_entry_per_new_row(conn, before, later)
    assert [(e.kind, e.ref) for e in made] == [
        ("mark", f"marks/{second['id']}"),
        ("mark_review", f"mark_reviews/{review['id']}"),
        ("mark", f"marks/{third['id']}"),
    ]
    assert made[2].payload["row"]["action"] == "withdraw"
    assert made[2].payload["row"]["supersedes_id"] == second["id"]
    with engine.connect() as conn:
        assert recheck_all(conn) == []
    tamper(engine, marks, first["id"], reason="设备故障", end_at=T0 + 5 * H)
    remove(engine, mark_reviews, review["id"])
    with engine.connect() as conn:
        assert recheck_all(conn) == [
            f'marks/{first["id"]} end_at: logged "2026-11-20T02:00:00.000000Z", now "2026-11-20T05:00:00.000000Z"',
            f'marks/{first["id"]} reason: logged "日常维护", now "设备故障"',
            f"mark_reviews/{review['id']}: row missing",
        ]


def test_a_lost_race_and_a_rollback_leave_no_entry(engine: Engine) -> None:
    gas = register_demo_devices(engine)[GAS_MN]
    with engine.begin() as conn:
        first = create_mark(conn, gas, draft(), created_by="企业甲", now=NOW, policy=POLICY)
        supersede_mark(conn, first["id"], draft("改"), created_by="企业甲", now=NOW, policy=POLICY)
        start = last_entry_id(conn)
    with pytest.raises((Conflict, IntegrityError)), engine.begin() as conn:
        supersede_mark(conn, first["id"], draft("再改"), created_by="企业乙", now=NOW, policy=POLICY)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        create_mark(conn, gas, draft("新"), created_by="企业甲", now=NOW, policy=POLICY)
        raise RuntimeError("the request failed later")
    with engine.connect() as conn:
        assert entries(conn, start) == []
