"""Supervision orders (电子督办) and the daily data audit (数据审核, CS-4.3.2.2).

- ``orders``: a regulator's order to an enterprise or an operator, with a deadline; its current state,
  updated in place as a projection of ``order_events``.
- ``order_events``: the order's journal (issued, responded with evidence, accepted, returned, escalated,
  commented); append-only.
- ``order_alarms``: which alarms an order was made from (append-only).
- ``audit_days``: an auditor's sign-off of one operator's day of data (append-only; a later row for the
  same day is a correction, the newest wins).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, ForeignKey, Index, Integer, String, Table, Text

from envwatch.core.db import BigId, UtcDateTime, metadata

orders = Table(
    "orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("region_code", String(6), nullable=False, comment="the issuing regulator's region"),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=True, comment="receiver"),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True, comment="receiver"),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False, comment="what must be done (督办要求)"),
    Column(
        "state", String(16), nullable=False, comment="issued | responded | returned | accepted | withdrawn"
    ),
    Column("deadline", UtcDateTime, nullable=False),
    Column("issued_by", String(64), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Index("ix_orders_state_deadline", "state", "deadline"),
    Index("ix_orders_enterprise", "enterprise_id", "id"),
    Index("ix_orders_operator", "operator_id", "id"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("event", String(24), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("comment", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Index("ix_order_events_order", "order_id", "id"),
)

order_alarms = Table(
    "order_alarms",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False),
    Column("alarm_id", BigInteger, ForeignKey("alarms.id"), nullable=False),
    Index("ix_order_alarms_order", "order_id"),
    Index("ix_order_alarms_alarm", "alarm_id"),
)

audit_days = Table(
    "audit_days",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("day", Date, nullable=False, comment="China calendar day audited"),
    Column("signed_by", String(64), nullable=False),
    Column("signed_at", UtcDateTime, nullable=False),
    Column("anomalies", Integer, nullable=False, comment="alarms of that day the auditor reviewed"),
    Column("note", Text, nullable=False),
    Index("ix_audit_days_operator_day", "operator_id", "day", "id"),
)
