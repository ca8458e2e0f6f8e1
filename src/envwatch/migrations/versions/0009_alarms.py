"""alarms: alarms and their journal, notifications outbox, supervision orders, daily audit, device offline deadline

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 19:58:38.584901
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import envwatch.core.db
from envwatch.migrations.append_only import protect_append_only

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("topic", sa.String(length=16), nullable=False, comment="alarm | order | audit"),
        sa.Column("ref_id", sa.BigInteger(), nullable=False, comment="the alarm's or order's id"),
        sa.Column(
            "event",
            sa.String(length=24),
            nullable=False,
            comment="what happened: opened, escalated, issued, …",
        ),
        sa.Column("channel", sa.String(length=16), nullable=False, comment="inapp | email | webhook | sms"),
        sa.Column(
            "recipient",
            sa.String(length=300),
            nullable=False,
            comment="username, e-mail address, URL or phone",
        ),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False, comment="the JSON a webhook receives"),
        sa.Column(
            "state", sa.String(length=16), nullable=False, comment="pending | sent | failed (permanently)"
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "claimed_until",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=True,
            comment="a dispatcher is sending it until then",
        ),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "read_at",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=True,
            comment="in-app: when the recipient opened it",
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_notifications_inbox", ["channel", "recipient", "id"], unique=False)
        batch_op.create_index("ix_notifications_ref", ["topic", "ref_id"], unique=False)

    op.create_table(
        "audit_days",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False, comment="China calendar day audited"),
        sa.Column("signed_by", sa.String(length=64), nullable=False),
        sa.Column("signed_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "anomalies", sa.Integer(), nullable=False, comment="alarms of that day the auditor reviewed"
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_audit_days_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_days")),
    )
    with op.batch_alter_table("audit_days", schema=None) as batch_op:
        batch_op.create_index("ix_audit_days_operator_day", ["operator_id", "day", "id"], unique=False)

    op.create_table(
        "notification_attempts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False, comment="a failure that retrying cannot fix"),
        sa.Column("detail", sa.Text(), nullable=False, comment="the channel's answer or error"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_attempts_notification_id_notifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
    )
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_attempts_notification", ["notification_id", "id"], unique=False
        )

    op.create_table(
        "notify_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column(
            "region_code",
            sa.String(length=6),
            nullable=True,
            comment="a regulator's region (行政区划 prefix)",
        ),
        sa.Column("channel", sa.String(length=16), nullable=False, comment="email | webhook | sms"),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column(
            "topics", sa.String(length=100), nullable=False, comment="comma-separated topics, empty = all"
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_notify_targets_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_notify_targets_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_targets")),
    )
    with op.batch_alter_table("notify_targets", schema=None) as batch_op:
        batch_op.create_index("ix_notify_targets_enterprise", ["enterprise_id"], unique=False)
        batch_op.create_index("ix_notify_targets_operator", ["operator_id"], unique=False)
        batch_op.create_index("ix_notify_targets_region", ["region_code"], unique=False)

    op.create_table(
        "orders",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column(
            "region_code", sa.String(length=6), nullable=False, comment="the issuing regulator's region"
        ),
        sa.Column("enterprise_id", sa.Integer(), nullable=True, comment="receiver"),
        sa.Column("operator_id", sa.Integer(), nullable=True, comment="receiver"),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False, comment="what must be done (督办要求)"),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
            comment="issued | responded | returned | accepted | withdrawn",
        ),
        sa.Column("deadline", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("issued_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_orders_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_orders_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_enterprise", ["enterprise_id", "id"], unique=False)
        batch_op.create_index("ix_orders_operator", ["operator_id", "id"], unique=False)
        batch_op.create_index("ix_orders_state_deadline", ["state", "deadline"], unique=False)

    op.create_table(
        "order_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index("ix_order_events_order", ["order_id", "id"], unique=False)

    op.create_table(
        "alarms",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.String(length=32),
            nullable=False,
            comment="offline | missing_hour | exceedance | constant | …",
        ),
        sa.Column(
            "factor",
            sa.String(length=16),
            nullable=False,
            comment="HJ 212 pollutant code, empty when not about one",
        ),
        sa.Column(
            "state", sa.String(length=16), nullable=False, comment="open | acknowledged | handling | closed"
        ),
        sa.Column(
            "source", sa.String(length=200), nullable=False, comment="the rule and its clause that raised it"
        ),
        sa.Column("summary", sa.String(length=500), nullable=False, comment="the latest detection, in words"),
        sa.Column(
            "started_at",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=False,
            comment="when the condition began",
        ),
        sa.Column(
            "ended_at",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=True,
            comment="when the condition ended (still going: empty)",
        ),
        sa.Column("peak", sa.String(length=32), nullable=True, comment="the worst value, as text"),
        sa.Column(
            "limit_value",
            sa.String(length=32),
            nullable=True,
            comment="the limit it was judged against, as text",
        ),
        sa.Column(
            "multiple", sa.String(length=16), nullable=True, comment="peak / limit (超标倍数), as text"
        ),
        sa.Column(
            "detections", sa.Integer(), nullable=False, comment="how many detections opened or repeated it"
        ),
        sa.Column("opened_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_detected_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "ack_due_at",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=False,
            comment="escalates when not acknowledged by then",
        ),
        sa.Column("escalated_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("assignee", sa.String(length=64), nullable=True, comment="username"),
        sa.Column("closed_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.Text(), nullable=True, comment="原因, required to close"),
        sa.Column("action", sa.Text(), nullable=True, comment="处理措施, required to close"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_alarms_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_index("ix_alarms_ack_due", ["ack_due_at"], unique=False)
        batch_op.create_index("ix_alarms_device", ["device_id", "opened_at"], unique=False)
        batch_op.create_index("ix_alarms_state_opened", ["state", "opened_at"], unique=False)
        batch_op.create_index(
            "ux_alarms_open",
            ["device_id", "kind", "factor"],
            unique=True,
            sqlite_where=sa.text("state <> 'closed'"),
            postgresql_where=sa.text("state <> 'closed'"),
        )

    op.create_table(
        "alarm_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.Column("at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "actor",
            sa.String(length=64),
            nullable=False,
            comment="username, or 'system' for detectors and loops",
        ),
        sa.Column("event", sa.String(length=24), nullable=False, comment="an event of alarms.lifecycle"),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column(
            "comment", sa.Text(), nullable=False, comment="what the person wrote, or the detection's summary"
        ),
        sa.Column(
            "data",
            sa.JSON(),
            nullable=False,
            comment="the detection behind it (period, peak, points, excluded periods) or the change made",
        ),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], name=op.f("fk_alarm_events_alarm_id_alarms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_events")),
    )
    with op.batch_alter_table("alarm_events", schema=None) as batch_op:
        batch_op.create_index("ix_alarm_events_alarm", ["alarm_id", "id"], unique=False)

    op.create_table(
        "order_alarms",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], name=op.f("fk_order_alarms_alarm_id_alarms")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_order_alarms_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_alarms")),
    )
    with op.batch_alter_table("order_alarms", schema=None) as batch_op:
        batch_op.create_index("ix_order_alarms_alarm", ["alarm_id"], unique=False)
        batch_op.create_index("ix_order_alarms_order", ["order_id"], unique=False)

    with op.batch_alter_table("device_status", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "alert_after",
                envwatch.core.db.UtcDateTime(timezone=True),
                nullable=True,
                comment="silent from then on if nothing newer arrives: last_seen + offline grace (alarms.offline)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "silent_since",
                envwatch.core.db.UtcDateTime(timezone=True),
                nullable=True,
                comment="the offline watcher found it silent then",
            )
        )
        batch_op.create_index("ix_device_status_alert_after", ["alert_after"], unique=False)

    # the journals are evidence (DESIGN convention 5): the database refuses UPDATE and DELETE
    for table in ("alarm_events", "notification_attempts", "order_events", "order_alarms", "audit_days"):
        protect_append_only(table)


def downgrade() -> None:
    with op.batch_alter_table("device_status", schema=None) as batch_op:
        batch_op.drop_index("ix_device_status_alert_after")
        batch_op.drop_column("silent_since")
        batch_op.drop_column("alert_after")

    with op.batch_alter_table("order_alarms", schema=None) as batch_op:
        batch_op.drop_index("ix_order_alarms_order")
        batch_op.drop_index("ix_order_alarms_alarm")

    op.drop_table("order_alarms")
    with op.batch_alter_table("alarm_events", schema=None) as batch_op:
        batch_op.drop_index("ix_alarm_events_alarm")

    op.drop_table("alarm_events")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_alarms_open",
            sqlite_where=sa.text("state <> 'closed'"),
            postgresql_where=sa.text("state <> 'closed'"),
        )
        batch_op.drop_index("ix_alarms_state_opened")
        batch_op.drop_index("ix_alarms_device")
        batch_op.drop_index("ix_alarms_ack_due")

    op.drop_table("alarms")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index("ix_order_events_order")

    op.drop_table("order_events")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_state_deadline")
        batch_op.drop_index("ix_orders_operator")
        batch_op.drop_index("ix_orders_enterprise")

    op.drop_table("orders")
    with op.batch_alter_table("notify_targets", schema=None) as batch_op:
        batch_op.drop_index("ix_notify_targets_region")
        batch_op.drop_index("ix_notify_targets_operator")
        batch_op.drop_index("ix_notify_targets_enterprise")

    op.drop_table("notify_targets")
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_attempts_notification")

    op.drop_table("notification_attempts")
    with op.batch_alter_table("audit_days", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_days_operator_day")

    op.drop_table("audit_days")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_ref")
        batch_op.drop_index("ix_notifications_inbox")
        batch_op.drop_index("ix_notifications_due")

    op.drop_table("notifications")
