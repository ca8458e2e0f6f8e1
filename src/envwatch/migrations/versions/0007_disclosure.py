"""disclosure: an enterprise's public disclosure settings (信息公开, SX-7), append-only

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import envwatch.core.db
from envwatch.migrations.append_only import protect_append_only

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Utc = envwatch.core.db.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "disclosure_settings",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column(
            "published", sa.Boolean(), nullable=False, comment="false: withdrawn from /public by an admin"
        ),
        sa.Column(
            "contact_name", sa.String(length=100), nullable=False, comment="联系人 shown to the public"
        ),
        sa.Column(
            "contact_phone", sa.String(length=32), nullable=False, comment="联系电话 shown to the public"
        ),
        sa.Column(
            "statement",
            sa.Text(),
            nullable=False,
            comment="the enterprise's statement (说明), at most 2000 chars",
        ),
        sa.Column(
            "reason",
            sa.String(length=500),
            nullable=False,
            comment="why not published (required then), or empty",
        ),
        sa.Column(
            "changed_by", sa.String(length=64), nullable=False, comment="username of who made the change"
        ),
        sa.Column("changed_at", Utc(timezone=True), nullable=False),
        sa.CheckConstraint("length(statement) <= 2000", name=op.f("ck_disclosure_settings_statement_length")),
        sa.CheckConstraint(
            "published OR length(trim(reason)) > 0",
            name=op.f("ck_disclosure_settings_reason_when_withdrawn"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_disclosure_settings_enterprise_id_enterprises"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_settings")),
    )
    with op.batch_alter_table("disclosure_settings", schema=None) as batch_op:
        batch_op.create_index("ix_disclosure_settings_enterprise", ["enterprise_id", "id"], unique=False)

    # who withdrew an enterprise from the public, and why, is never rewritten (DESIGN convention 5)
    protect_append_only("disclosure_settings")


def downgrade() -> None:
    # dropping a table drops its triggers and indexes with it (SQLite and PostgreSQL)
    op.drop_table("disclosure_settings")
