"""The notification tables (通知): an outbox, its delivery journal, and who receives what.

- ``notifications`` is the outbox (DESIGN convention 7): a row is written in the same transaction as the
  alarm or order change that caused it, so nothing is announced that did not happen and nothing that
  happened goes unannounced. A dispatcher claims due rows (compare-and-set on ``claimed_until``), sends,
  and records the result; delivery state is updated in place.
- ``notification_attempts`` is the journal of every delivery attempt with its outcome (append-only).
- ``notify_targets`` are the addresses beyond in-app messages: an e-mail address, a phone for SMS, a
  webhook URL, registered for an enterprise, an operator or a regulator's region.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from envwatch.core.db import BigId, UtcDateTime, metadata

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("topic", String(16), nullable=False, comment="alarm | order | audit"),
    Column("ref_id", BigInteger, nullable=False, comment="the alarm's or order's id"),
    Column("event", String(24), nullable=False, comment="what happened: opened, escalated, issued, …"),
    Column("channel", String(16), nullable=False, comment="inapp | email | webhook | sms"),
    Column("recipient", String(300), nullable=False, comment="username, e-mail address, URL or phone"),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("payload", JSON, nullable=False, comment="the JSON a webhook receives"),
    Column("state", String(16), nullable=False, comment="pending | sent | failed (permanently)"),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claimed_until", UtcDateTime, nullable=True, comment="a dispatcher is sending it until then"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("read_at", UtcDateTime, nullable=True, comment="in-app: when the recipient opened it"),
    Column("last_error", Text, nullable=True),
    Index("ix_notifications_due", "state", "next_attempt_at"),
    Index("ix_notifications_inbox", "channel", "recipient", "id"),
    Index("ix_notifications_ref", "topic", "ref_id"),
)

notification_attempts = Table(
    "notification_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("notification_id", BigInteger, ForeignKey("notifications.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("permanent", Boolean, nullable=False, comment="a failure that retrying cannot fix"),
    Column("detail", Text, nullable=False, comment="the channel's answer or error"),
    Index("ix_notification_attempts_notification", "notification_id", "id"),
)

notify_targets = Table(
    "notify_targets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("region_code", String(6), nullable=True, comment="a regulator's region (行政区划 prefix)"),
    Column("channel", String(16), nullable=False, comment="email | webhook | sms"),
    Column("address", String(300), nullable=False),
    Column("topics", String(100), nullable=False, comment="comma-separated topics, empty = all"),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_notify_targets_enterprise", "enterprise_id"),
    Index("ix_notify_targets_operator", "operator_id"),
    Index("ix_notify_targets_region", "region_code"),
)
