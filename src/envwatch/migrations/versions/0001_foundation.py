"""foundation: registry devices, raw packets, measurements, commands

Revision ID: 0001
Revises:
Create Date: 2026-11-22 11:40:09.522287
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import envwatch.core.db
from envwatch.migrations.append_only import protect_append_only

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = ("raw_packets", "measurements", "measurement_conflicts", "command_events", "device_keys")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "mn", sa.String(length=32), nullable=False, comment="HJ 212 MN: 24 hex chars (2017), 14 (2005)"
        ),
        sa.Column("pw", sa.String(length=32), nullable=False, comment="HJ 212 access password"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enterprise", sa.String(length=200), nullable=False, comment="排污单位"),
        sa.Column("outlet", sa.String(length=200), nullable=False, comment="排放口"),
        sa.Column("kind", sa.String(length=8), nullable=False, comment="gas | water"),
        sa.Column("protocol", sa.String(length=8), nullable=False, comment="2017 | 2025"),
        sa.Column(
            "crc_variants",
            sa.String(length=64),
            nullable=False,
            comment="comma list of accepted CRC variants: standard, modbus, modbus_swapped (field quirks)",
        ),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("mn", name=op.f("uq_devices_mn")),
    )
    op.create_table(
        "raw_packets",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("received_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("peer", sa.Text(), nullable=False, comment="ip:port of the connection"),
        sa.Column(
            "device_id", sa.Integer(), nullable=True, comment="null when the MN is unknown or unreadable"
        ),
        sa.Column("mn", sa.Text(), nullable=True, comment="as read from the header, whatever its length"),
        sa.Column("cn", sa.Text(), nullable=True),
        sa.Column("qn", sa.Text(), nullable=True),
        sa.Column(
            "verdict",
            sa.String(length=24),
            nullable=False,
            comment="ok | duplicate | conflict | bad_crc | unknown_mn | ...",
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False, comment="the frame exactly as received"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_packets")),
    )
    with op.batch_alter_table("raw_packets", schema=None) as batch_op:
        batch_op.create_index("ix_raw_packets_mn_time", ["mn", "received_at"], unique=False)
        batch_op.create_index("ix_raw_packets_time", ["received_at"], unique=False)
        batch_op.create_index("ix_raw_packets_verdict_time", ["verdict", "received_at"], unique=False)

    op.create_table(
        "commands",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("cn", sa.String(length=8), nullable=False),
        sa.Column("qn", sa.String(length=24), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False, comment="CP keys sent, e.g. {BeginTime, EndTime}"),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_commands_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
        sa.UniqueConstraint("qn", name=op.f("uq_commands_qn")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index("ix_commands_device", ["device_id", "id"], unique=False)
        batch_op.create_index("ix_commands_created", ["created_at"], unique=False)

    op.create_table(
        "device_keys",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("key_hex", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False, comment="import | api | cn1014"),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_device_keys_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_keys")),
    )
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.create_index("ix_device_keys_device", ["device_id", "id"], unique=False)

    op.create_table(
        "device_status",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column(
            "last_seen",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=True,
            comment="last packet received",
        ),
        sa.Column("last_peer", sa.String(length=64), nullable=True),
        sa.Column(
            "changed_at",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=False,
            comment="when online last flipped",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_status_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_status")),
    )
    op.create_table(
        "measurement_conflicts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("data_time", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("factor", sa.String(length=32), nullable=False),
        sa.Column("packet_id", sa.BigInteger(), nullable=False, comment="the re-send that disagreed"),
        sa.Column(
            "stored_packet_id", sa.BigInteger(), nullable=False, comment="the packet whose values are stored"
        ),
        sa.Column("stored_fields", sa.JSON(), nullable=False),
        sa.Column("new_fields", sa.JSON(), nullable=False),
        sa.Column("detected_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_measurement_conflicts_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurement_conflicts")),
    )
    with op.batch_alter_table("measurement_conflicts", schema=None) as batch_op:
        batch_op.create_index("ix_measurement_conflicts_device", ["device_id", "data_time"], unique=False)

    op.create_table(
        "measurements",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False, comment="rtd | minute | hour | day"),
        sa.Column(
            "data_time",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=False,
            comment="DataTime (period start for minute/hour/day)",
        ),
        sa.Column(
            "part",
            sa.SmallInteger(),
            nullable=False,
            comment="0: the first packet for this time; 1, 2, ...: factors a later packet added (补充)",
        ),
        sa.Column(
            "factors",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
            comment="every factor's fields exactly as sent: {a21026: {Rtd: '12.3', Flag: 'N'}}",
        ),
        sa.Column(
            "packet_id",
            sa.BigInteger(),
            nullable=False,
            comment="raw_packets.id of the frame that brought it",
        ),
        sa.Column("backfill", sa.Boolean(), nullable=False, comment="RF=1 or a history reply (补传)"),
        sa.Column("received_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_measurements_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("device_id", "kind", "data_time", "part", name=op.f("pk_measurements")),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "command_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("command_id", sa.BigInteger(), nullable=False),
        sa.Column("at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("packet_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["command_id"], ["commands.id"], name=op.f("fk_command_events_command_id_commands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_events")),
    )
    with op.batch_alter_table("command_events", schema=None) as batch_op:
        batch_op.create_index("ix_command_events_command", ["command_id", "id"], unique=False)

    for table in APPEND_ONLY:
        protect_append_only(table)
    if op.get_bind().dialect.name != "sqlite":
        # raw packet ids are handed out in blocks by the writer (ingest.writer); SQLite uses max(id)
        op.execute("CREATE SEQUENCE raw_packets_id_seq")


def downgrade() -> None:
    with op.batch_alter_table("command_events", schema=None) as batch_op:
        batch_op.drop_index("ix_command_events_command")

    op.drop_table("command_events")

    op.drop_table("measurements")
    with op.batch_alter_table("measurement_conflicts", schema=None) as batch_op:
        batch_op.drop_index("ix_measurement_conflicts_device")

    op.drop_table("measurement_conflicts")
    op.drop_table("device_status")
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_device_keys_device")

    op.drop_table("device_keys")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index("ix_commands_device")
        batch_op.drop_index("ix_commands_created")

    op.drop_table("commands")
    with op.batch_alter_table("raw_packets", schema=None) as batch_op:
        batch_op.drop_index("ix_raw_packets_verdict_time")
        batch_op.drop_index("ix_raw_packets_time")
        batch_op.drop_index("ix_raw_packets_mn_time")

    op.drop_table("raw_packets")
    op.drop_table("devices")
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS envwatch_append_only()")
        op.execute("DROP SEQUENCE IF EXISTS raw_packets_id_seq")
