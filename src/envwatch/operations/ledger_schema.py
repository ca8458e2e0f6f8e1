"""Equipment ledger (一机一档, CS-4.4.3), spare parts, emergency plans and drills (CS-4.2.3), and the
quarterly self-inspection reports (季度自查报告, SX-18.7).

- ``equipment``: one instrument or tool of an operator; identity columns plus a projection of its
  journal (``state``, ``next_verification_due``), updated in place.
- ``equipment_events``: purchased, installed, maintained, verified (检定/校准, with the next due date),
  repaired, moved, scrapped; append-only.
- ``spare_parts`` and ``spare_part_moves``: the stock is the sum of the moves (in positive, out
  negative); a move is never edited.
- ``emergency_plans``: a plan per event type (应急预案); a revision is a new row. ``drills``: a drill held
  under a plan, with its record; append-only.
- ``self_inspection_reports``: a quarterly report per enterprise as submitted, with its generated PDF and
  xlsx (blob sha256); append-only, a resubmission is a new row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from envwatch.core.db import BigId, UtcDateTime, metadata

equipment = Table(
    "equipment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column(
        "kind", String(16), nullable=False, comment="analyser 分析仪 | tool 工具 | meter 计量器具 | other"
    ),
    Column("name", String(200), nullable=False),
    Column("model", String(100), nullable=False),
    Column("serial", String(100), nullable=False),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=True, comment="installed at"),
    Column("state", String(16), nullable=False, comment="in_stock | installed | repairing | scrapped"),
    Column("purchased_on", Date, nullable=True),
    Column("next_verification_due", Date, nullable=True, comment="检定/校准到期"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("operator_id", "model", "serial", name="uq_equipment_operator_serial"),
)

equipment_events = Table(
    "equipment_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("equipment_id", Integer, ForeignKey("equipment.id"), nullable=False),
    Column("event", String(16), nullable=False),
    Column("on", Date, nullable=False, comment="the day it happened"),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=True),
    Column("next_due", Date, nullable=True, comment="verified: the next verification due"),
    Column("comment", Text, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_equipment_events_equipment", "equipment_id", "id"),
)

spare_parts = Table(
    "spare_parts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("model", String(100), nullable=False),
    Column("unit", String(16), nullable=False, comment="个, 瓶, 套, ..."),
    Column("min_stock", Integer, nullable=False, comment="reorder below this"),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("operator_id", "name", "model", name="uq_spare_parts_operator_model"),
)

spare_part_moves = Table(
    "spare_part_moves",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("part_id", Integer, ForeignKey("spare_parts.id"), nullable=False),
    Column("quantity", Integer, nullable=False, comment="in > 0, out < 0"),
    Column("reason", String(200), nullable=False),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=True, comment="used at"),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_spare_part_moves_part", "part_id", "id"),
)

emergency_plans = Table(
    "emergency_plans",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column(
        "event_type",
        String(24),
        nullable=False,
        comment="device_failure | power_outage | network_outage | data_anomaly | exceedance | "
        "safety_accident | natural_disaster | other",
    ),
    Column("title", String(200), nullable=False),
    Column("version", String(32), nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("body", Text, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_emergency_plans_operator", "operator_id", "event_type", "id"),
)

drills = Table(
    "drills",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("plan_id", BigInteger, ForeignKey("emergency_plans.id"), nullable=False),
    Column("held_on", Date, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("summary", Text, nullable=False, comment="演练记录: what was done, what was found"),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_drills_plan", "plan_id", "held_on"),
)

self_inspection_reports = Table(
    "self_inspection_reports",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=False),
    Column("year", Integer, nullable=False),
    Column("quarter", Integer, nullable=False),
    Column("pdf_sha256", String(64), nullable=False),
    Column("xlsx_sha256", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("submitted_by", String(100), nullable=False),
    Column("submitted_at", UtcDateTime, nullable=False),
    Index("ix_self_inspection_reports_enterprise", "enterprise_id", "year", "quarter"),
)
