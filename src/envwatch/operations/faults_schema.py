"""Faults (故障) and production stops (停产) with their journals (SX-18.3, SX-18.4).

- ``faults``: one device fault, opened by hand or from an alarm; the current facts the SX-18.3 clocks
  need (backup start, check, end, restore) are a projection of ``fault_events``, updated in place.
- ``fault_events``: the fault's journal (opened, backup_started, backup_checked, backup_ended, restored,
  commented); append-only.
- ``manual_results``: results of licensed manual monitoring (手工监测) during a fault, uploaded as
  measurements of their own (never mixed into the device's automatic data). Append-only: a wrong result
  is corrected by a new row with ``supersedes_id`` (at most one per row, the unique constraint), or
  withdrawn by one with ``withdrawn`` true; only rows neither superseded nor withdrawing count.
- ``production_stops``: a stop report (停产报告) that takes effect only after the regulator approves it;
  its projection of ``production_stop_events``. The approved period becomes a shutdown mark
  (``mark_id``).
- ``production_stop_events``: submitted, approved, rejected, withdrawn, restarted; append-only.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from envwatch.core.db import BigId, ExactDecimal, UtcDateTime, metadata

faults = Table(
    "faults",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("alarm_id", BigInteger, ForeignKey("alarms.id"), nullable=True, comment="opened from"),
    Column("factors", String(200), nullable=False, comment="comma list; empty = the whole device"),
    Column("description", Text, nullable=False),
    Column("state", String(16), nullable=False, comment="open | on_backup | restored"),
    Column("started_at", UtcDateTime, nullable=False, comment="when the fault began"),
    Column("backup_kind", String(16), nullable=True, comment="backup_device 备机 | manual 手工监测"),
    Column("backup_started_at", UtcDateTime, nullable=True),
    Column("backup_checked_at", UtcDateTime, nullable=True),
    Column("backup_ended_at", UtcDateTime, nullable=True),
    Column("restored_at", UtcDateTime, nullable=True),
    Column("mark_id", BigInteger, ForeignKey("marks.id"), nullable=True, comment="the fault period's mark"),
    Column("opened_by", String(100), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Index("ix_faults_device", "device_id", "started_at"),
    Index("ix_faults_state", "state"),
)

fault_events = Table(
    "fault_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("fault_id", BigInteger, ForeignKey("faults.id"), nullable=False),
    Column("event", String(24), nullable=False),
    Column("at", UtcDateTime, nullable=False, comment="when it happened (may be before it was recorded)"),
    Column("comment", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_fault_events_fault", "fault_id", "id"),
)

manual_results = Table(
    "manual_results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("fault_id", BigInteger, ForeignKey("faults.id"), nullable=False),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("factor", String(32), nullable=False),
    Column("sampled_at", UtcDateTime, nullable=False),
    Column("value", ExactDecimal, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("agency", String(200), nullable=False, comment="the licensed testing agency"),
    Column("report_no", String(64), nullable=False, comment="检测报告编号"),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column(
        "supersedes_id",
        BigInteger,
        ForeignKey("manual_results.id"),
        nullable=True,
        comment="the result row this one corrects or withdraws",
    ),
    Column(
        "withdrawn",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="true: withdraws the row it supersedes (not a result of this fault), no replacement",
    ),
    Column(
        "reason",
        Text,
        nullable=False,
        server_default="",
        comment="why the superseded row was corrected or withdrawn; empty on a first recording",
    ),
    Index("ix_manual_results_device", "device_id", "sampled_at"),
    UniqueConstraint("supersedes_id", name="uq_manual_results_supersedes_id"),
)

production_stops = Table(
    "production_stops",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=False),
    Column("outlet_id", Integer, ForeignKey("outlets.id"), nullable=False),
    Column("start_at", UtcDateTime, nullable=False, comment="planned stop start"),
    Column("end_at", UtcDateTime, nullable=False, comment="planned restart"),
    Column("reason", Text, nullable=False),
    Column(
        "state",
        String(16),
        nullable=False,
        comment="submitted | approved | rejected | withdrawn | restarted",
    ),
    Column("mark_id", BigInteger, ForeignKey("marks.id"), nullable=True, comment="the shutdown mark"),
    Column("restarted_at", UtcDateTime, nullable=True),
    Column("submitted_by", String(100), nullable=False),
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("decided_by", String(100), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Index("ix_production_stops_outlet", "outlet_id", "start_at"),
    Index("ix_production_stops_state", "state"),
)

production_stop_events = Table(
    "production_stop_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("stop_id", BigInteger, ForeignKey("production_stops.id"), nullable=False),
    Column("event", String(24), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("comment", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_production_stop_events_stop", "stop_id", "id"),
)
