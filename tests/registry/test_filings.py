"""Filings (备案): SX-14 / SX-15 deadline status, append-only steps, attachments (SQLite and PostgreSQL).

Deadlines below are computed by hand from the requirement and the 2026 calendar the chinese-calendar
package ships (Spring Festival 2026: 2026-02-15 … 02-23 off, Saturdays 02-14 and 02-28 worked, 调休).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import DatabaseError

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.workdays import WorkdayCalendar
from envwatch.registry.filings import (
    KIND_RULES,
    add_step,
    attach_to_filing,
    create_filing,
    filing_status,
    get_filing,
    list_filings,
    read_filing_attachment,
)
from envwatch.registry.schema import attachments, devices, enterprises, filing_steps, outlets
from tests.helpers import first_uncovered_year

CAL = WorkdayCalendar()
T0 = datetime(2026, 1, 5, tzinfo=UTC)  # when the registry rows are created


def cn(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A China-time moment (what users mean and what due_at is reported in)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=CHINA_TZ)


def make_registry(engine: Engine) -> dict[str, int]:
    """One enterprise with a gas outlet (and its logger) and a water outlet, written directly."""
    with engine.begin() as c:
        ent = c.execute(
            insert(enterprises).values(
                name="示例电厂",
                credit_code="91140100MA0000000X",
                region_code="140100",
                industry="火力发电",
                attention_level="provincial",
                address="太原市",
                created_at=T0,
                updated_at=T0,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        other = c.execute(
            insert(enterprises).values(
                name="另一家",
                credit_code="91140100MA0000001X",
                region_code="140100",
                industry="",
                attention_level="other",
                address="",
                created_at=T0,
                updated_at=T0,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        ids: dict[str, int] = {"ent": ent, "other": other}
        for name, kind, code in (("gas", "gas", "DA001"), ("water", "water", "DW001")):
            ids[name] = c.execute(
                insert(outlets).values(
                    enterprise_id=ent, code=code, name=f"{code} 排口", kind=kind, created_at=T0, updated_at=T0
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        ids["gas_device"] = c.execute(
            insert(devices).values(
                mn="010000A8900016F000169DC0",
                pw="123456",
                name="CEMS",
                enterprise="示例电厂",
                outlet="DA001 排口",
                kind="gas",
                protocol="2017",
                created_at=T0,
                updated_at=T0,
                outlet_id=ids["gas"],
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return ids


def new_filing(engine: Engine, ids: dict[str, int], kind: str, event_at: datetime, **kw: Any) -> int:
    outlet = kw.pop("outlet_id", ids["gas"])
    row = create_filing(
        engine,
        kind=kind,
        enterprise_id=ids["ent"],
        outlet_id=outlet,
        title=f"{kind} test",
        event_at=event_at,
        created_by="tester",
        now=kw.pop("now", event_at),
        **kw,
    )
    return int(row["id"])


def step(engine: Engine, filing_id: int, name: str, done_at: datetime, now: datetime | None = None) -> None:
    add_step(engine, filing_id, step=name, done_at=done_at, recorded_by="tester", now=now or done_at)


def status_at(engine: Engine, filing_id: int, now: datetime) -> dict[str, Any]:
    return filing_status(engine, filing_id, now, CAL)


def test_every_kind_has_a_rule_and_a_meeting_step_or_none() -> None:
    assert set(KIND_RULES) == {"acceptance", "filing", "major_change", "gas_core_part", "content_change"}
    assert {k: r.met_by for k, r in KIND_RULES.items()} == {
        "acceptance": None,
        "filing": None,
        "major_change": "reconnected",
        "gas_core_part": "debug_tested",
        "content_change": "filed",
    }


def test_major_change_168_h_due_met_overdue(engine: Engine) -> None:
    ids = make_registry(engine)
    start = cn(2026, 3, 2, 8, 0)
    fid = new_filing(engine, ids, "major_change", start)
    due_at = cn(2026, 3, 9, 8, 0)  # 7 × 24 h later
    s = status_at(engine, fid, start + timedelta(hours=1))
    assert (s["status"], s["due_at"], s["requirement"], s["met_at"]) == ("due", due_at, "SX-14", None)
    assert s["event_at"] == start and "168" in s["rule"]
    assert status_at(engine, fid, due_at)["status"] == "due"  # due_at itself is still on time
    assert status_at(engine, fid, due_at + timedelta(seconds=1))["status"] == "overdue"
    # reconnection (联网) recorded afterwards, done exactly at due_at: met, and it stays met
    step(engine, fid, "filed", cn(2026, 3, 1, 9, 0), now=due_at + timedelta(days=2))  # filed before: fine
    step(engine, fid, "reconnected", due_at, now=due_at + timedelta(days=2))
    later = status_at(engine, fid, due_at + timedelta(days=30))
    assert (later["status"], later["met_at"]) == ("met", due_at)
    # a report on an earlier moment does not see the later reconnection
    assert status_at(engine, fid, due_at - timedelta(hours=1))["status"] == "due"


def test_major_change_met_late_stays_overdue(engine: Engine) -> None:
    ids = make_registry(engine)
    start = cn(2026, 3, 2, 8, 0)
    fid = new_filing(engine, ids, "major_change", start)
    step(engine, fid, "reconnected", cn(2026, 3, 9, 8, 0, 1))
    s = status_at(engine, fid, cn(2026, 4, 1))
    assert (s["status"], s["met_at"]) == ("overdue", cn(2026, 3, 9, 8, 0, 1))


def test_gas_core_part_72_h_debug_test(engine: Engine) -> None:
    ids = make_registry(engine)
    replaced = cn(2026, 5, 29, 22, 30)
    fid = new_filing(engine, ids, "gas_core_part", replaced, device_id=ids["gas_device"])
    s = status_at(engine, fid, replaced)
    assert (s["status"], s["due_at"], s["requirement"]) == ("due", cn(2026, 6, 1, 22, 30), "SX-14")
    assert "72" in s["rule"]
    # a reconnection does not meet the debug-test duty; debug_tested does
    step(engine, fid, "reconnected", cn(2026, 5, 30, 10, 0))
    assert status_at(engine, fid, cn(2026, 5, 31))["status"] == "due"
    step(engine, fid, "debug_tested", cn(2026, 6, 1, 22, 30))
    assert status_at(engine, fid, cn(2026, 6, 2))["status"] == "met"


def test_gas_core_part_is_for_gas_only(engine: Engine) -> None:
    ids = make_registry(engine)
    with pytest.raises(InvalidInput, match="gas"):
        new_filing(engine, ids, "gas_core_part", cn(2026, 5, 1), outlet_id=ids["water"])
    with pytest.raises(InvalidInput, match="must name its gas outlet or device"):
        new_filing(engine, ids, "gas_core_part", cn(2026, 5, 1), outlet_id=None)
    with pytest.raises(InvalidInput, match="does not sit on outlet"):
        new_filing(
            engine, ids, "gas_core_part", cn(2026, 5, 1), outlet_id=ids["water"], device_id=ids["gas_device"]
        )


def test_content_change_on_the_friday_before_spring_festival(engine: Engine) -> None:
    ids = make_registry(engine)
    # Friday 2026-02-13. Working days after it: Sat 02-14 (调休上班) = 1; 02-15 … 02-23 春节 off;
    # Tue 02-24 = 2, Wed 02-25 = 3, Thu 02-26 = 4, Fri 02-27 = 5 → due at 24:00 of 02-27.
    assert CAL.is_workday(date(2026, 2, 14)) and not CAL.is_workday(date(2026, 2, 23))
    fid = new_filing(engine, ids, "content_change", cn(2026, 2, 13, 15, 0))
    due_at = cn(2026, 2, 28, 0, 0)
    s = status_at(engine, fid, cn(2026, 2, 20))
    assert (s["status"], s["due_at"], s["requirement"]) == ("due", due_at, "SX-15")
    assert status_at(engine, fid, cn(2026, 2, 27, 23, 59, 59))["status"] == "due"
    assert status_at(engine, fid, cn(2026, 2, 28, 0, 0, 1))["status"] == "overdue"
    step(engine, fid, "filed", cn(2026, 2, 27, 23, 0), now=cn(2026, 3, 2))
    assert status_at(engine, fid, cn(2026, 3, 2))["status"] == "met"


def test_content_change_into_an_unknown_year_asks_for_the_settings(engine: Engine) -> None:
    ids = make_registry(engine)
    year = first_uncovered_year()  # the 5th working day after Dec 28 of the year before is in it
    fid = new_filing(engine, ids, "content_change", cn(year - 1, 12, 28, 10, 0))
    now = cn(year - 1, 12, 29)
    with pytest.raises(InvalidInput) as err:
        status_at(engine, fid, now)
    assert str(year) in err.value.message and err.value.http_status == 422
    assert "ENVWATCH_EXTRA_HOLIDAYS" in err.value.message and "ENVWATCH_EXTRA_WORKDAYS" in err.value.message
    # a detail or a list still shows the filing, with the reason instead of a status
    detail = get_filing(engine, fid, now, CAL)["deadline"]
    assert detail["status"] == "unknown" and "2027" in detail["problem"]
    assert [r["id"] for r in list_filings(engine, now, CAL, status="unknown")] == [fid]
    # once the operator lists 2027's exceptions (here just New Year's Day), Mon–Fri applies:
    # Tue 12-29 = 1, Wed 12-30 = 2, Thu 12-31 = 3, (Fri 01-01 off, weekend) Mon 01-04 = 4, Tue 01-05 = 5
    covered = WorkdayCalendar(extra_holidays=[date(2027, 1, 1)])
    assert filing_status(engine, fid, now, covered)["due_at"] == cn(2027, 1, 6, 0, 0)


def test_acceptance_and_filing_kinds_only_record_dates(engine: Engine) -> None:
    ids = make_registry(engine)
    for kind in ("acceptance", "filing"):
        fid = new_filing(engine, ids, kind, cn(2026, 4, 1))
        step(engine, fid, "accepted", cn(2026, 4, 3))
        s = status_at(engine, fid, cn(2027, 1, 1))
        assert (s["status"], s["due_at"], s["requirement"]) == ("none", None, None)
        assert [x["step"] for x in get_filing(engine, fid, cn(2027, 1, 1), CAL)["steps"]] == ["accepted"]


def test_first_recorded_step_counts(engine: Engine) -> None:
    ids = make_registry(engine)
    fid = new_filing(engine, ids, "major_change", cn(2026, 3, 2, 8, 0))
    late = cn(2026, 3, 10, 9, 0)  # past the 168 h
    step(engine, fid, "reconnected", late)
    # recorded again later, claiming an earlier (timely) time: it neither moves met_at nor the finding
    step(engine, fid, "reconnected", cn(2026, 3, 5, 9, 0), now=cn(2026, 3, 11))
    s = status_at(engine, fid, cn(2026, 3, 12))
    assert (s["status"], s["met_at"]) == ("overdue", late)
    assert len(get_filing(engine, fid, cn(2026, 3, 12), CAL)["steps"]) == 2  # both facts are kept


def test_withdrawn_closes_without_finding_unless_already_late(engine: Engine) -> None:
    ids = make_registry(engine)
    fid = new_filing(engine, ids, "major_change", cn(2026, 3, 2, 8, 0))
    step(engine, fid, "withdrawn", cn(2026, 3, 3, 8, 0))
    s = status_at(engine, fid, cn(2026, 6, 1))
    assert (s["status"], s["withdrawn_at"]) == ("withdrawn", cn(2026, 3, 3, 8, 0))
    assert status_at(engine, fid, cn(2026, 3, 2, 9, 0))["status"] == "due"  # before the withdrawal
    with pytest.raises(Conflict, match="withdrawn"):
        step(engine, fid, "reconnected", cn(2026, 3, 4), now=cn(2026, 3, 5))
    # withdrawing after the 168 h had passed does not erase the finding
    late = new_filing(engine, ids, "major_change", cn(2026, 3, 2, 8, 0))
    step(engine, late, "withdrawn", cn(2026, 3, 20))
    assert status_at(engine, late, cn(2026, 6, 1))["status"] == "overdue"


def test_step_times_are_checked(engine: Engine) -> None:
    ids = make_registry(engine)
    fid = new_filing(engine, ids, "content_change", cn(2026, 2, 13, 15, 0))
    with pytest.raises(InvalidInput, match="in the future"):
        step(engine, fid, "filed", cn(2026, 2, 16, 10, 0, 1), now=cn(2026, 2, 16, 10, 0))
    with pytest.raises(InvalidInput, match="before the filing's event_at"):
        step(engine, fid, "filed", cn(2026, 2, 13, 14, 59), now=cn(2026, 2, 16))
    with pytest.raises(InvalidInput, match="step must be one of"):
        step(engine, fid, "done", cn(2026, 2, 16))
    with pytest.raises(NotFound):
        step(engine, fid + 1000, "filed", cn(2026, 2, 16))
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(filing_steps)).scalar_one() == 0


def test_steps_and_attachments_are_append_only_in_the_database(engine: Engine, tmp_path: Path) -> None:
    ids = make_registry(engine)
    fid = new_filing(engine, ids, "major_change", cn(2026, 3, 2, 8, 0))
    step(engine, fid, "reconnected", cn(2026, 3, 3))
    attach_to_filing(
        engine,
        BlobStore(tmp_path / "blobs"),
        fid,
        filename="a.pdf",
        content=b"%PDF",
        content_type="application/pdf",
        added_by="tester",
        now=cn(2026, 3, 3),
    )
    for sql in (
        "UPDATE filing_steps SET done_at = recorded_at",
        "DELETE FROM filing_steps",
        "UPDATE attachments SET filename = 'b.pdf'",
        "DELETE FROM attachments",
    ):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as c:
            c.execute(text(sql))
    assert status_at(engine, fid, cn(2026, 3, 4))["status"] == "met"


def test_attachment_round_trip_with_sha256(engine: Engine, tmp_path: Path) -> None:
    ids = make_registry(engine)
    blobs = BlobStore(tmp_path / "blobs")
    fid = new_filing(engine, ids, "acceptance", cn(2026, 4, 1))
    other = new_filing(engine, ids, "filing", cn(2026, 4, 1))
    content = "验收报告\n".encode() * 100
    row = attach_to_filing(
        engine,
        blobs,
        fid,
        filename="验收报告.pdf",
        content=content,
        content_type="application/pdf",
        added_by="tester",
        now=cn(2026, 4, 2),
    )
    assert row["sha256"] == hashlib.sha256(content).hexdigest() and row["size"] == len(content)
    got, data = read_filing_attachment(engine, blobs, fid, row["id"])
    assert data == content and got["filename"] == "验收报告.pdf"
    assert [a["id"] for a in get_filing(engine, fid, cn(2026, 4, 2), CAL)["attachments"]] == [row["id"]]
    with pytest.raises(NotFound):  # attachments are reached through their own filing only
        read_filing_attachment(engine, blobs, other, row["id"])
    # a file altered on disk is refused, not served
    path = blobs.path_of(row["sha256"])
    path.chmod(0o644)
    path.write_bytes(content + b"x")
    with pytest.raises(InvalidInput, match="no longer matches"):
        read_filing_attachment(engine, blobs, fid, row["id"])


def test_attachment_to_unknown_filing_or_oversize_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    ids = make_registry(engine)
    blobs = BlobStore(tmp_path / "blobs", max_bytes=1024)
    fid = new_filing(engine, ids, "acceptance", cn(2026, 4, 1))
    kw: dict[str, Any] = {"filename": "x.bin", "content_type": "", "added_by": "t", "now": cn(2026, 4, 2)}
    with pytest.raises(NotFound):
        attach_to_filing(engine, blobs, fid + 1000, content=b"abc", **kw)
    with pytest.raises(InvalidInput, match="over the limit of 1024 bytes"):
        attach_to_filing(engine, blobs, fid, content=b"x" * 1025, **kw)
    assert not (tmp_path / "blobs").exists() or not any((tmp_path / "blobs").rglob("*"))
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(attachments)).scalar_one() == 0


def test_list_filters(engine: Engine) -> None:
    ids = make_registry(engine)
    met = new_filing(engine, ids, "major_change", cn(2026, 3, 2, 8, 0))
    step(engine, met, "reconnected", cn(2026, 3, 3))
    overdue = new_filing(engine, ids, "gas_core_part", cn(2026, 3, 2, 8, 0))
    due = new_filing(engine, ids, "major_change", cn(2026, 3, 9, 8, 0), outlet_id=ids["water"])
    none = new_filing(engine, ids, "acceptance", cn(2026, 1, 10), outlet_id=None)
    now = cn(2026, 3, 10)

    def listed(**kw: Any) -> list[int]:
        return [r["id"] for r in list_filings(engine, now, CAL, **kw)]

    assert listed() == [due, overdue, met, none]  # newest event first
    assert (listed(status="met"), listed(status="overdue"), listed(status="due")) == ([met], [overdue], [due])
    assert listed(status="none") == [none]
    assert listed(kind="major_change") == [due, met]
    assert listed(outlet_id=ids["water"]) == [due]
    assert listed(enterprise_id=ids["other"]) == []
    assert listed(limit=1) == [due] and listed(status="met", limit=1) == [met]
    assert list_filings(engine, now, CAL, status="met")[0]["deadline"]["met_at"] == cn(2026, 3, 3)
    with pytest.raises(InvalidInput, match="status must be one of"):
        list_filings(engine, now, CAL, status="late")


def test_create_checks_references(engine: Engine) -> None:
    ids = make_registry(engine)
    with pytest.raises(InvalidInput, match="kind must be one of"):
        new_filing(engine, ids, "change", cn(2026, 4, 1))
    with pytest.raises(InvalidInput, match="no outlet"):
        new_filing(engine, ids, "filing", cn(2026, 4, 1), outlet_id=ids["gas"] + 1000)
    with pytest.raises(InvalidInput, match="belongs to enterprise"):
        create_filing(
            engine,
            kind="filing",
            enterprise_id=ids["other"],
            outlet_id=ids["gas"],
            title="x",
            event_at=cn(2026, 4, 1),
            created_by="t",
            now=cn(2026, 4, 1),
        )
    with pytest.raises(InvalidInput, match="aware"):
        new_filing(engine, ids, "filing", datetime(2026, 4, 1), now=cn(2026, 4, 1))
    with pytest.raises(NotFound):
        get_filing(engine, 999_999, cn(2026, 4, 1), CAL)
