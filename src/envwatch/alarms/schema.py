"""The alarm tables (报警): ``alarms`` (current state, one row per alarm) and ``alarm_events`` (its journal).

An alarm is a case that somebody must answer (SX-24/25: every anomaly or gap starts a response workflow), so
two kinds of data live here:

- ``alarm_events`` is evidence: who did what to an alarm and when, each detection that raised or repeated
  it, with the values behind it. Append-only: the database refuses UPDATE and DELETE (migration 0009).
- ``alarms`` is the case file's cover sheet: state, assignee, last detection, counters. It is a projection
  of the journal, updated in place (like ``device_status``) so that lists and the "one open alarm per
  device + kind + factor" rule are cheap. The partial unique index ``ux_alarms_open`` enforces that rule in
  the database: two detector processes racing to open the same alarm cannot both succeed.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from envwatch.core.db import BigId, UtcDateTime, metadata

alarms = Table(
    "alarms",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("kind", String(32), nullable=False, comment="offline | missing_hour | exceedance | constant | …"),
    Column("factor", String(16), nullable=False, comment="HJ 212 pollutant code, empty when not about one"),
    Column("state", String(16), nullable=False, comment="open | acknowledged | handling | closed"),
    Column("source", String(200), nullable=False, comment="the rule and its clause that raised it"),
    Column("summary", String(500), nullable=False, comment="the latest detection, in words"),
    Column("started_at", UtcDateTime, nullable=False, comment="when the condition began"),
    Column("ended_at", UtcDateTime, nullable=True, comment="when the condition ended (still going: empty)"),
    Column("peak", String(32), nullable=True, comment="the worst value, as text"),
    Column("limit_value", String(32), nullable=True, comment="the limit it was judged against, as text"),
    Column("multiple", String(16), nullable=True, comment="peak / limit (超标倍数), as text"),
    Column("detections", Integer, nullable=False, comment="how many detections opened or repeated it"),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_detected_at", UtcDateTime, nullable=False),
    Column("ack_due_at", UtcDateTime, nullable=False, comment="escalates when not acknowledged by then"),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("assignee", String(64), nullable=True, comment="username"),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("cause", Text, nullable=True, comment="原因, required to close"),
    Column("action", Text, nullable=True, comment="处理措施, required to close"),
    Index(
        "ux_alarms_open",
        "device_id",
        "kind",
        "factor",
        unique=True,
        sqlite_where=text("state <> 'closed'"),
        postgresql_where=text("state <> 'closed'"),
    ),
    Index("ix_alarms_state_opened", "state", "opened_at"),
    Index("ix_alarms_device", "device_id", "opened_at"),
    Index("ix_alarms_ack_due", "ack_due_at"),
)

alarm_events = Table(
    "alarm_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alarm_id", BigInteger, ForeignKey("alarms.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False, comment="username, or 'system' for detectors and loops"),
    Column("event", String(24), nullable=False, comment="an event of alarms.lifecycle"),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("comment", Text, nullable=False, comment="what the person wrote, or the detection's summary"),
    Column(
        "data",
        JSON,
        nullable=False,
        comment="the detection behind it (period, peak, points, excluded periods) or the change made",
    ),
    Index("ix_alarm_events_alarm", "alarm_id", "id"),
)
