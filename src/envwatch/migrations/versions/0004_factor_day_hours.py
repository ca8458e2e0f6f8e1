"""derived: hour status masks per factor and China day (for effective transmission rates)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import envwatch.core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "factor_day_hours",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("factor", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False, comment="China calendar day (UTC+8)"),
        sa.Column(
            "received",
            sa.Integer(),
            nullable=False,
            comment="bit h: hour h has a record (device hour or minutes)",
        ),
        sa.Column(
            "valid",
            sa.Integer(),
            nullable=False,
            comment="bit h: hour h is valid by its flags (marks apply later)",
        ),
        sa.Column(
            "received_on_time", sa.Integer(), nullable=False, comment="the same, counting only on-time data"
        ),
        sa.Column("valid_on_time", sa.Integer(), nullable=False),
        sa.Column("computed_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_factor_day_hours_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("device_id", "factor", "day", name=op.f("pk_factor_day_hours")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "derived_watermarks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("received_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_derived_watermarks")),
    )

    op.create_index(
        "ix_measurements_stats_received",
        "measurements",
        ["received_at"],
        sqlite_where=sa.text("kind <> 'rtd'"),
        postgresql_where=sa.text("kind <> 'rtd'"),
    )


def downgrade() -> None:
    op.drop_index("ix_measurements_stats_received", table_name="measurements")
    op.drop_table("derived_watermarks")
    op.drop_table("factor_day_hours")
