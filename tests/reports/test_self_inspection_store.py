"""Submitting quarterly self-inspection reports and their statuses (SX-18.7), on SQLite and PostgreSQL.

Due rule: 2026Q1 (ends 2026-04-01 00:00 China time) is due by 24:00 China time of 2026-04-15 with the
default 15 days: 2026-04-16 00:00 China time = 2026-04-15T16:00Z.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from envwatch.core.blobs import BlobStore
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.reports.quarters import Quarter, last_finished, quarter_containing, quarter_state
from envwatch.reports.self_inspection_store import (
    get_submission,
    list_submissions,
    operator_contracted,
    quarter_status,
    region_statuses,
    statuses,
    submission_file,
    submit,
)
from tests.reports.self_inspection_world import NOW, World, build_world, china

Q1 = Quarter(2026, 1)
DUE_AT = datetime(2026, 4, 15, 16, 0, tzinfo=UTC)
EPS = timedelta(microseconds=1)


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


@pytest.fixture
def blobs(settings: Settings) -> BlobStore:
    return BlobStore.from_settings(settings)


def _submit(
    engine: Engine, blobs: BlobStore, settings: Settings, w: World, now: datetime, **kw: object
) -> dict:
    fields: dict = {"enterprise_id": w.jia, "year": 2026, "quarter": 1, "note": " 已自查 ", "by": "ent_a"}
    fields.update(kw)
    with engine.begin() as conn:
        return submit(conn, blobs, settings, now=now, **fields)


def test_the_due_rule_at_its_boundaries() -> None:
    assert Q1.due_at(15) == DUE_AT and Q1.due_on(15).isoformat() == "2026-04-15"
    assert quarter_state(Q1, Q1.end - EPS, 15, None) == "not_due_yet"
    assert quarter_state(Q1, Q1.end, 15, None) == "due"
    assert quarter_state(Q1, DUE_AT, 15, None) == "due"  # at the due instant: still on time
    assert quarter_state(Q1, DUE_AT + EPS, 15, None) == "overdue"
    assert quarter_state(Q1, DUE_AT + EPS, 15, DUE_AT) == "submitted"
    assert quarter_state(Q1, DUE_AT + EPS, 15, DUE_AT + EPS) == "submitted_late"
    assert (
        quarter_state(Q1, Q1.end, 0, None) == "due" and quarter_state(Q1, Q1.end + EPS, 0, None) == "overdue"
    )
    assert quarter_containing(china(2026, 3, 31, 23, 30)) == Q1
    assert quarter_containing(china(2026, 4, 1)) == Quarter(2026, 2)
    assert last_finished(china(2026, 4, 1)) == Q1 and last_finished(china(2026, 3, 31, 23, 59)) == Quarter(
        2025, 4
    )


def test_submit_stores_both_files_and_a_row(
    engine: Engine, blobs: BlobStore, settings: Settings, world: World
) -> None:
    row = _submit(engine, blobs, settings, world, NOW)
    assert (row["enterprise_id"], row["year"], row["quarter"]) == (world.jia, 2026, 1)
    assert (row["note"], row["submitted_by"], row["submitted_at"]) == ("已自查", "ent_a", NOW)
    assert (row["enterprise"], row["region_code"]) == ("甲化工有限公司", "140105")
    pdf, meta = submission_file(blobs, row, "pdf")
    xlsx, xmeta = submission_file(blobs, row, "xlsx")
    assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == row["pdf_sha256"] == meta["sha256"]
    assert xlsx.startswith(b"PK") and hashlib.sha256(xlsx).hexdigest() == row["xlsx_sha256"]
    assert meta["filename"] == f"季度自查报告-91140105000000001B-2026Q1-{row['id']}.pdf"
    assert xmeta["content_type"].endswith("spreadsheetml.sheet")
    with engine.connect() as conn:
        assert get_submission(conn, row["id"]) == row
        with pytest.raises(NotFound, match="no self-inspection report with id 999"):
            get_submission(conn, 999)


def test_submit_refuses(engine: Engine, blobs: BlobStore, settings: Settings, world: World) -> None:
    with pytest.raises(
        InvalidInput,
        match="quarter 2026Q2 is not over yet: it ends at 2026-07-01 00:00 China time; a self-inspection report "
        r"is submitted for a finished quarter \(preview it meanwhile\)",
    ):
        _submit(engine, blobs, settings, world, NOW, quarter=2)
    with pytest.raises(InvalidInput, match="quarter 2026Q1 is not over yet"):
        _submit(engine, blobs, settings, world, Q1.end - EPS)
    with pytest.raises(InvalidInput, match="quarter must be 1, 2, 3 or 4, not 0"):
        _submit(engine, blobs, settings, world, NOW, quarter=0)
    with pytest.raises(InvalidInput, match="the note is 4001 characters long; at most 4000 are kept"):
        _submit(engine, blobs, settings, world, NOW, note="x" * 4001)
    with pytest.raises(InvalidInput, match="the submitter's name must be 1-100 characters"):
        _submit(engine, blobs, settings, world, NOW, by=" ")
    with pytest.raises(NotFound, match="no enterprise with id 999"):
        _submit(engine, blobs, settings, world, NOW, enterprise_id=999)
    with engine.connect() as conn:
        assert list_submissions(conn) == []
    assert not blobs.root.exists() or not any(p.is_file() for p in blobs.root.rglob("*"))


def test_statuses_follow_the_first_submission(
    engine: Engine, blobs: BlobStore, settings: Settings, world: World
) -> None:
    with engine.connect() as conn:
        assert quarter_status(conn, world.jia, 2026, 1, DUE_AT, 15).state == "due"
        overdue = quarter_status(conn, world.jia, 2026, 1, DUE_AT + EPS, 15)
        assert (overdue.state, overdue.due_on.isoformat(), overdue.submissions) == (
            "overdue",
            "2026-04-15",
            0,
        )
        assert quarter_status(conn, world.jia, 2026, 2, NOW, 15).state == "not_due_yet"
        with pytest.raises(NotFound, match="no enterprise with id 999"):
            quarter_status(conn, 999, 2026, 1, NOW, 15)
    late = _submit(engine, blobs, settings, world, DUE_AT + EPS)  # 乙 never submits
    again = _submit(engine, blobs, settings, world, NOW, note="补充说明")  # a resubmission: a new row
    # 2025Q4 is due by 24:00 China time of 2026-01-15: submitted at that instant, on time
    on_time = _submit(engine, blobs, settings, world, china(2026, 1, 16), year=2025, quarter=4)
    with engine.connect() as conn:
        jia = quarter_status(conn, world.jia, 2026, 1, NOW, 15)
        assert (jia.state, jia.submissions, jia.first_submitted_at) == ("submitted_late", 2, DUE_AT + EPS)
        assert (jia.latest_id, jia.latest_submitted_at, jia.latest_by) == (again["id"], NOW, "ent_a")
        assert late["id"] != again["id"]
        assert quarter_status(conn, world.jia, 2025, 4, NOW, 15).state == "submitted"
        both = statuses(conn, None, 2026, 1, NOW, 15)
        assert [(s.enterprise, s.state) for s in both] == [("甲化工有限公司", "submitted_late"),
                                                           ("乙热电有限公司", "overdue")]  # fmt: skip
        assert statuses(conn, [], 2026, 1, NOW, 15) == []
        assert [s.enterprise_id for s in region_statuses(conn, "140106", 2026, 1, NOW, 15)] == [world.yi]
        assert [s.enterprise_id for s in region_statuses(conn, "140000", 2026, 1, NOW, 15)] == [
            world.jia,
            world.yi,
        ]
        assert jia.as_dict()["state"] == "submitted_late"
        newest = [r["id"] for r in list_submissions(conn)]
        assert newest == [again["id"], late["id"], on_time["id"]]
        assert [r["id"] for r in list_submissions(conn, enterprise_ids=[world.jia], year=2025)] == [
            on_time["id"]
        ]
        assert [r["id"] for r in list_submissions(conn, quarter=1)] == [again["id"], late["id"]]
        assert (
            list_submissions(conn, enterprise_ids=[world.yi]) == []
            and list_submissions(conn, enterprise_ids=[]) == []
        )


def test_operator_contracts_in_the_quarter(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        assert operator_contracted(conn, world.op, world.jia, Q1)
        assert not operator_contracted(conn, world.old_op, world.jia, Q1)  # ended 2025-12-31
        assert operator_contracted(conn, world.old_op, world.jia, Quarter(2025, 4))
        assert not operator_contracted(conn, world.op, world.yi, Q1)
