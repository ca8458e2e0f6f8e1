"""Builders for the duties and filings packs' tests, on top of ``tests.operations.records_world``.

The world is the records world (NOW 2026-11-22 12:00 China time; 甲 330102 with devices ``gas`` and
``water`` under 运维甲 since 2026-01-01, 乙 440103 with device ``other`` under 运维乙; materials ``so2``
valid until 2027-06-30 and ``old`` until 2026-10-31) plus material ``older`` of 运维甲, valid until
2026-06-30. O&M records and self-inspection reports are inserted straight into their tables (their stores
are other areas' work and check things these tests are not about); equipment goes through its ledger.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert

from envwatch.compliance.findings import apply_found
from envwatch.compliance.packs import RULES
from envwatch.compliance.rules import Found
from envwatch.core.clock import CHINA_TZ
from envwatch.core.settings import Settings
from envwatch.operations.ledger_schema import self_inspection_reports
from envwatch.operations.materials import MaterialDraft, add_material
from envwatch.operations.records_schema import field_record_materials, field_records
from tests.compliance.judging import judge, stored_rows
from tests.compliance.judging import with_params as with_params
from tests.operations import records_world
from tests.operations.records_world import NOW, RecordsWorld

__all__ = ["NOW", "RecordsWorld", "build", "china", "evaluate", "record", "stored", "weekly"]


def china(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A China time as aware UTC: china(2026, 10, 31, 23, 30)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=CHINA_TZ).astimezone(UTC)


def build(engine: Engine) -> RecordsWorld:
    w = records_world.build(engine)
    with engine.begin() as conn:
        draft = MaterialDraft(
            operator_id=w.op, kind="solution", name="COD 标准溶液", certificate_no="GBW(E)-OLDER", lot="S1",
            concentration=Decimal("100"), unit="mg/L", uncertainty="1%", maker="标液厂",
            valid_until=date(2026, 6, 30),
        )  # fmt: skip
        older = int(add_material(conn, draft, "test", w.now)["id"])
    return replace(w, materials={**w.materials, "older": older})


def record(
    conn: Connection,
    w: RecordsWorld,
    device: str,
    at: datetime,
    *,
    kind: str = "inspection",
    materials: tuple[str, ...] = (),
    supersedes: int | None = None,
) -> int:
    """An O&M record of ``kind`` at ``device`` by the operator in charge of it, citing ``materials``."""
    mine = device != "other"
    row = {
        "kind": kind, "device_id": w.devices[device], "operator_id": w.op if mine else w.other_op,
        "staff_id": w.staff["zhang" if mine else "zhao"], "performed_at": at, "latitude": None,
        "longitude": None, "distance_m": None, "on_site": "yes", "payload": {}, "verdict": "none", "note": "",
        "supersedes_id": supersedes, "keep_until": date(2031, 1, 1), "recorded_by": "test", "recorded_at": at,
    }  # fmt: skip
    record_id = int(
        conn.execute(insert(field_records).values(**row).returning(field_records.c.id)).scalar_one()
    )
    for name in materials:
        conn.execute(
            insert(field_record_materials).values(record_id=record_id, material_id=w.materials[name])
        )
    return record_id


def weekly(
    conn: Connection, w: RecordsWorld, device: str, first: datetime, last: datetime, days: int = 7
) -> list[int]:
    """Inspections every ``days`` days from ``first`` while not after ``last``."""
    out = []
    at = first
    while at <= last:
        out.append(record(conn, w, device, at))
        at += timedelta(days=days)
    return out


def report(conn: Connection, enterprise_id: int, year: int, quarter: int, at: datetime) -> int:
    row = {
        "enterprise_id": enterprise_id, "year": year, "quarter": quarter, "pdf_sha256": "0" * 64,
        "xlsx_sha256": "1" * 64, "note": "", "submitted_by": "ent", "submitted_at": at,
    }  # fmt: skip
    return int(
        conn.execute(
            insert(self_inspection_reports).values(**row).returning(self_inspection_reports.c.id)
        ).scalar_one()
    )


def evaluate(
    engine: Engine, settings: Settings, rule_id: str, at: datetime = NOW, **params: Any
) -> list[Found]:
    """What the rule finds at ``at`` (with parameter overrides), without storing it."""
    return judge(engine, settings, rule_id, at, **params)


def store(engine: Engine, settings: Settings, rule_id: str, at: datetime = NOW) -> dict[str, int]:
    """Evaluate and store at ``at`` (a moment the runner would refuse as future is fine here)."""
    items = evaluate(engine, settings, rule_id, at)
    with engine.begin() as conn:
        return apply_found(conn, RULES.get(rule_id), items, at=at, now=at).as_dict()


def stored(engine: Engine, rule_id: str) -> dict[str, dict[str, Any]]:
    """The stored findings of a rule by key."""
    return {r["key"]: r for r in stored_rows(engine, rule_id)}
