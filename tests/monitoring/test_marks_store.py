"""Marks in the real stores (SQLite and PostgreSQL): append-only chains, as-of views, approval, lateness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from envwatch.core.blobs import BlobStore
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.monitoring.marking import MarkEffect
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_schema import mark_reviews, marks
from envwatch.monitoring.marks_store import (
    add_mark_attachment,
    create_mark,
    effective_marks,
    list_marks,
    mark_attachments,
    mark_history,
    review_mark,
    supersede_mark,
    withdraw_mark,
)
from envwatch.registry.schema import device_factors
from tests.helpers import GAS_MN, NOW, WATER_MN, register_demo_devices

POLICY = MarkPolicy()
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # the marked day starts here
H = timedelta(hours=1)


def draft(
    code: str = "maintenance", start: datetime = T0, end: datetime = T0 + 2 * H, **kw: str | None
) -> MarkDraft:
    factor = kw.get("factor", "a21026")
    return MarkDraft(factor, start, end, code, kw.get("reason") or "日常维护", kw.get("source") or "operator")


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return register_demo_devices(engine)


def mark(
    engine: Engine, device_id: int, d: MarkDraft, now: datetime = NOW, policy: MarkPolicy = POLICY
) -> int:
    with engine.begin() as conn:
        return int(create_mark(conn, device_id, d, created_by="企业甲", now=now, policy=policy)["id"])


def test_supersede_keeps_both_rows_and_the_chain(engine: Engine, ids: dict[str, int]) -> None:
    gas = ids[GAS_MN]
    first = mark(engine, gas, draft())
    with engine.begin() as conn:
        second = supersede_mark(
            conn,
            first,
            draft("calibration", end=T0 + 3 * H, reason="实为校准"),
            created_by="运维乙",
            now=NOW + H,
            policy=POLICY,
        )
    with engine.begin() as conn:
        third = withdraw_mark(
            conn,
            second["id"],
            reason="标错设备",
            source="operator",
            created_by="运维乙",
            now=NOW + 2 * H,
            policy=POLICY,
        )
    with engine.connect() as conn:
        rows = conn.execute(select(marks).order_by(marks.c.id)).mappings().all()
        chain = mark_history(conn, second["id"])
        assert mark_history(conn, first) == chain  # any member gives the whole chain
    assert [r["id"] for r in rows] == [first, second["id"], third["id"]]
    assert [(r["code"], r["action"], r["supersedes_id"], r["created_by"]) for r in chain] == [
        ("maintenance", "mark", None, "企业甲"),
        ("calibration", "mark", first, "运维乙"),
        ("calibration", "withdraw", second["id"], "运维乙"),
    ]
    assert chain[1]["end_at"] == T0 + 3 * H and chain[1]["reason"] == "实为校准"
    assert chain[2]["created_at"] == NOW + 2 * H


def test_superseding_a_superseded_mark_is_a_conflict(engine: Engine, ids: dict[str, int]) -> None:
    first = mark(engine, ids[GAS_MN], draft())
    with engine.begin() as conn:
        second = supersede_mark(conn, first, draft(), created_by="a", now=NOW, policy=POLICY)["id"]
    for action in (
        lambda conn: supersede_mark(conn, first, draft(), created_by="b", now=NOW, policy=POLICY),
        lambda conn: withdraw_mark(
            conn, first, reason="x", source="api", created_by="b", now=NOW, policy=POLICY
        ),
        lambda conn: review_mark(conn, first, decision="approved", note="", reviewed_by="b", now=NOW),
    ):
        with (
            engine.begin() as conn,
            pytest.raises(Conflict, match=f"superseded by mark {second} on .*instead"),
        ):
            action(conn)
    with engine.begin() as conn:
        withdrawal = withdraw_mark(
            conn, second, reason="x", source="api", created_by="b", now=NOW, policy=POLICY
        )
    with engine.begin() as conn, pytest.raises(Conflict, match="is a withdrawal"):
        supersede_mark(conn, withdrawal["id"], draft(), created_by="b", now=NOW, policy=POLICY)
    # the database itself keeps a chain from forking (a race the code check cannot see)
    with engine.begin() as conn, pytest.raises(IntegrityError):
        row = dict(conn.execute(select(marks).where(marks.c.id == second)).mappings().one())
        del row["id"]
        conn.execute(insert(marks).values(**{**row, "supersedes_id": first}))


def test_the_database_refuses_update_and_delete(engine: Engine, ids: dict[str, int]) -> None:
    first = mark(engine, ids[GAS_MN], draft("shutdown", factor=None))
    with engine.begin() as conn:
        review_mark(conn, first, decision="approved", note="", reviewed_by="局", now=NOW)
    for statement in (
        update(marks).values(reason="改写"),
        delete(marks),
        update(mark_reviews).values(decision="rejected"),
        delete(mark_reviews),
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    with engine.connect() as conn:
        assert conn.execute(select(marks.c.reason)).scalar_one() == "日常维护"


def test_effective_marks_as_of_before_and_after_a_supersede(engine: Engine, ids: dict[str, int]) -> None:
    gas = ids[GAS_MN]
    first = mark(engine, gas, draft("maintenance"), now=NOW)
    with engine.begin() as conn:
        second = supersede_mark(
            conn, first, draft("fault", end=T0 + 5 * H), created_by="a", now=NOW + H, policy=POLICY
        )["id"]
    with engine.begin() as conn:
        withdraw_mark(
            conn, second, reason="误标", source="enterprise", created_by="a", now=NOW + 2 * H, policy=POLICY
        )
    day = (T0, T0 + 24 * H)
    with engine.connect() as conn:
        assert effective_marks(conn, [gas], *day, as_of=NOW - timedelta(seconds=1)) == []
        (before,) = effective_marks(conn, [gas], *day, as_of=NOW)
        (after,) = effective_marks(conn, [gas], *day, as_of=NOW + H)
        assert effective_marks(conn, [gas], *day, as_of=NOW + 2 * H) == []
        assert effective_marks(conn, [gas], *day) == []  # now: withdrawn
    assert (before.mark_id, before.code, before.effect, before.end) == (
        first,
        "maintenance",
        MarkEffect.INVALID,
        T0 + 2 * H,
    )
    assert (after.mark_id, after.code, after.effect, after.end) == (
        second,
        "fault",
        MarkEffect.INVALID,
        T0 + 5 * H,
    )
    assert (after.device_id, after.factor, after.late) == (gas, "a21026", False)


def test_shutdown_counts_only_when_approved(engine: Engine, ids: dict[str, int]) -> None:
    gas = ids[GAS_MN]
    shut = mark(engine, gas, draft("shutdown", factor=None, reason="机组停运检修"))
    day = (T0, T0 + 24 * H)

    def effect(**kw: object) -> MarkEffect:
        with engine.connect() as conn:
            (span,) = effective_marks(conn, None, *day, **kw)  # type: ignore[arg-type]
            return span.effect

    assert effect() is MarkEffect.INFO  # pending: no effect
    assert effect(require_approval=False) is MarkEffect.EXEMPT  # the "as claimed" view
    with engine.begin() as conn:
        review_mark(conn, shut, decision="approved", note="停运证明已上传", reviewed_by="局", now=NOW + H)
    assert effect() is MarkEffect.EXEMPT
    assert effect(as_of=NOW) is MarkEffect.INFO  # before the approval
    with engine.begin() as conn:
        review_mark(
            conn, shut, decision="rejected", note="流量正常，不是停运", reviewed_by="局", now=NOW + 2 * H
        )
    assert effect() is MarkEffect.INFO  # the latest review decides
    assert effect(require_approval=False) is MarkEffect.INFO
    assert effect(as_of=NOW + H) is MarkEffect.EXEMPT
    with engine.begin() as conn, pytest.raises(InvalidInput, match="rejection needs a note"):
        review_mark(conn, shut, decision="rejected", note=" ", reviewed_by="局", now=NOW)
    with engine.begin() as conn, pytest.raises(InvalidInput, match="decision"):
        review_mark(conn, shut, decision="maybe", note="", reviewed_by="局", now=NOW)
    # a new version needs approving again: the approval belonged to the old one
    with engine.begin() as conn:
        review_mark(conn, shut, decision="approved", note="复核通过", reviewed_by="局", now=NOW + 3 * H)
        supersede_mark(
            conn,
            shut,
            draft("shutdown", end=T0 + 6 * H, factor=None),
            created_by="a",
            now=NOW + 4 * H,
            policy=POLICY,
        )
    assert effect() is MarkEffect.INFO


def test_late_flag_under_both_rules(engine: Engine, ids: dict[str, int]) -> None:
    gas = ids[GAS_MN]
    end = T0 + 2 * H  # 2026-11-20 10:00 China time
    on_time = mark(engine, gas, draft(), now=end + timedelta(days=10))
    late = mark(engine, gas, draft(), now=end + timedelta(days=10, seconds=1))
    calendar = MarkPolicy(deadline_rule="day_of_next_month")
    # November data: on time until the end of 10 December, China time
    cal_on_time = mark(engine, gas, draft(), now=datetime(2026, 12, 10, 15, 59, tzinfo=UTC), policy=calendar)
    cal_late = mark(engine, gas, draft(), now=datetime(2026, 12, 10, 16, 0, tzinfo=UTC), policy=calendar)
    with engine.connect() as conn:
        flags = {s.mark_id: s.late for s in effective_marks(conn, [gas], T0, end)}
    assert flags == {on_time: False, late: True, cal_on_time: False, cal_late: True}


def test_overlap_at_the_range_edges(engine: Engine, ids: dict[str, int]) -> None:
    gas, water = ids[GAS_MN], ids[WATER_MN]
    m = mark(engine, gas, draft(start=T0 + 2 * H, end=T0 + 4 * H))
    other = mark(engine, water, draft(start=T0, end=T0 + 24 * H, factor="w01018"))
    with engine.connect() as conn:

        def found(start: datetime, end: datetime, devices: list[int] | None = None) -> list[int]:
            return [
                s.mark_id for s in effective_marks(conn, [gas] if devices is None else devices, start, end)
            ]

        assert found(T0, T0 + 2 * H) == []  # ends where the mark starts
        assert found(T0 + 4 * H, T0 + 5 * H) == []  # starts where the mark ends (end exclusive)
        assert found(T0 + 2 * H, T0 + 2 * H + timedelta(microseconds=1)) == [m]
        assert found(T0 + 4 * H - timedelta(microseconds=1), T0 + 5 * H) == [m]
        assert found(T0 + 3 * H, T0 + 3 * H + timedelta(seconds=1)) == [m]  # inside
        assert found(T0, T0 + 24 * H, [gas, water]) == [m, other]
        assert found(T0, T0 + 24 * H, []) == []
        assert [s.mark_id for s in effective_marks(conn, None, T0, T0 + 24 * H)] == [m, other]
        assert [r["id"] for r in list_marks(conn, gas, T0 + 4 * H, T0 + 5 * H)] == []
        assert [r["id"] for r in list_marks(conn, None, T0 + 3 * H, T0 + 5 * H)] == [other, m]  # start order


def test_list_marks_shows_superseded_only_on_request(engine: Engine, ids: dict[str, int]) -> None:
    first = mark(engine, ids[GAS_MN], draft())
    with engine.begin() as conn:
        second = supersede_mark(
            conn, first, draft(reason="补充说明"), created_by="a", now=NOW, policy=POLICY
        )["id"]
    with engine.connect() as conn:
        now_rows = list_marks(conn, ids[GAS_MN], T0, T0 + 24 * H)
        all_rows = list_marks(conn, ids[GAS_MN], T0, T0 + 24 * H, include_superseded=True)
    assert [(r["id"], r["superseded_by"]) for r in now_rows] == [(second, None)]
    assert [(r["id"], r["superseded_by"]) for r in all_rows] == [(first, second), (second, None)]


def test_device_and_factor_are_checked(engine: Engine, ids: dict[str, int]) -> None:
    gas = ids[GAS_MN]
    with engine.begin() as conn, pytest.raises(NotFound, match="no device with id 999"):
        create_mark(conn, 999, draft(), created_by="a", now=NOW, policy=POLICY)
    with engine.begin() as conn:
        conn.execute(
            insert(device_factors).values(
                device_id=gas, factor="a21026", unit="mg/m3", rated=1, created_at=NOW, updated_at=NOW
            )
        )
    with (
        engine.begin() as conn,
        pytest.raises(InvalidInput, match="has no factor a21002: registered are a21026"),
    ):
        create_mark(conn, gas, draft(factor="a21002"), created_by="a", now=NOW, policy=POLICY)
    first = mark(engine, gas, draft())
    with engine.begin() as conn, pytest.raises(NotFound):
        supersede_mark(conn, first + 100, draft(), created_by="a", now=NOW, policy=POLICY)
    # the new version keeps the device but may widen to the whole device
    with engine.begin() as conn:
        whole = supersede_mark(conn, first, draft(factor=None), created_by="a", now=NOW, policy=POLICY)
    assert (whole["device_id"], whole["factor"]) == (gas, None)


def test_attachments_of_a_mark(engine: Engine, ids: dict[str, int], tmp_path: Path) -> None:
    first = mark(engine, ids[GAS_MN], draft("shutdown", factor=None))
    blobs = BlobStore(tmp_path / "blobs")
    with engine.begin() as conn:
        row = add_mark_attachment(
            conn,
            blobs,
            first,
            filename="停运证明.pdf",
            content=b"%PDF-1.4",
            content_type="application/pdf",
            added_by="企业甲",
            now=NOW,
        )
        with pytest.raises(NotFound):
            add_mark_attachment(
                conn, blobs, first + 1, filename="x", content=b"x", content_type="", added_by="a", now=NOW
            )
    with engine.connect() as conn:
        (listed,) = mark_attachments(conn, first)
    assert listed["id"] == row["id"] and listed["filename"] == "停运证明.pdf"
    assert blobs.get(listed["sha256"]) == b"%PDF-1.4"


def test_a_mark_is_part_of_the_callers_transaction(engine: Engine, ids: dict[str, int]) -> None:
    """A failure later in the same transaction takes the mark with it (on SQLite a savepoint would have
    committed it half-way: pysqlite opens no transaction before a SAVEPOINT)."""
    with pytest.raises(RuntimeError), engine.begin() as conn:
        create_mark(conn, ids[GAS_MN], draft(), created_by="t", now=NOW, policy=MarkPolicy())
        raise RuntimeError("the rest of the request failed")
    with engine.connect() as conn:
        assert conn.execute(select(marks)).all() == []
