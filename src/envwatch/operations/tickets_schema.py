"""Service tickets (服务工单, CS-4.3.3): an enterprise's request on the 7×24 line and what followed.

- ``tickets``: the request and its current state, a projection of ``ticket_events`` (updated in place).
  ``zone`` is the outlet's service zone when the request was made (it decides the on-site clock), kept
  on the ticket so that a later change of the outlet does not move a past clock.
- ``ticket_events``: requested, responded, arrived, resolved, confirmed, rejected, cancelled, surveyed;
  append-only. The clocks stop only on these recorded events (``operations.ticket_sla``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from envwatch.core.db import BigId, UtcDateTime, metadata

tickets = Table(
    "tickets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=False),
    Column("outlet_id", Integer, ForeignKey("outlets.id"), nullable=False),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("zone", String(12), nullable=False, comment="urban | suburban | remote (at request time)"),
    Column("channel", String(12), nullable=False, comment="phone | web | app"),
    Column("subject", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("state", String(12), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("requested_by", String(100), nullable=False),
    Column("responded_at", UtcDateTime, nullable=True),
    Column("arrived_at", UtcDateTime, nullable=True),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("cancelled_at", UtcDateTime, nullable=True),
    Column("assigned_staff_id", Integer, ForeignKey("staff.id"), nullable=True),
    Column("score", Integer, nullable=True, comment="satisfaction survey 1..5"),
    Index("ix_tickets_operator", "operator_id", "requested_at"),
    Index("ix_tickets_enterprise", "enterprise_id", "requested_at"),
    Index("ix_tickets_state", "state"),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ticket_id", BigInteger, ForeignKey("tickets.id"), nullable=False),
    Column("event", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False, comment="when it happened"),
    Column("from_state", String(12), nullable=True),
    Column("to_state", String(12), nullable=False),
    Column("comment", Text, nullable=False),
    Column("staff_id", Integer, ForeignKey("staff.id"), nullable=True),
    Column("score", Integer, nullable=True),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_ticket_events_ticket", "ticket_id", "id"),
)
