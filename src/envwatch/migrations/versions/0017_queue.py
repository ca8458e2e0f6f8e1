"""scale-out ingest: stream sequences applied by the workers, command claims of the gateways (issue 10)

Revision ID: 0017
Revises: 0014
Create Date: 2026-11-24 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import envwatch.core.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "queue_applied",
        sa.Column("stream", sa.String(length=64), nullable=False, comment="JetStream stream name"),
        sa.Column(
            "seq", sa.BigInteger(), nullable=False, comment="stream sequence of a message already stored"
        ),
        sa.Column("applied_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream", "seq", name=op.f("pk_queue_applied")),
    )
    with op.batch_alter_table("queue_applied", schema=None) as batch_op:
        batch_op.create_index("ix_queue_applied_at", ["applied_at"], unique=False)
    op.create_table(
        "command_claims",
        sa.Column("command_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "gateway",
            sa.String(length=64),
            nullable=False,
            comment="the gateway instance that sends the command",
        ),
        sa.Column("claimed_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["command_id"], ["commands.id"], name=op.f("fk_command_claims_command_id_commands")
        ),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_command_claims")),
    )


def downgrade() -> None:
    op.drop_table("command_claims")
    with op.batch_alter_table("queue_applied", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_applied_at")
    op.drop_table("queue_applied")
