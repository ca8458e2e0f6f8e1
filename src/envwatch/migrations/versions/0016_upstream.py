"""upstream forwarding 市 → 省 → 部: upstream platforms, their settings' history, forwarder state (issue 10)

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-30 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import envwatch.core.db
from envwatch.migrations.append_only import protect_append_only

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = envwatch.core.db.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "upstreams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False, comment="e.g. province, ministry"),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstreams")),
        sa.UniqueConstraint("name", name=op.f("uq_upstreams_name")),
    )
    op.create_table(
        "upstream_versions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column(
            "region_prefixes",
            sa.JSON(),
            nullable=False,
            comment="行政区划代码 prefixes of the enterprises whose devices are forwarded; with enterprise_ids "
            "empty too: every device",
        ),
        sa.Column(
            "enterprise_ids", sa.JSON(), nullable=False, comment="enterprises whose devices are forwarded"
        ),
        sa.Column(
            "acks",
            sa.Boolean(),
            nullable=False,
            comment="the upstream answers 9014 to packets whose Flag asks",
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", _TIME, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upstream_id"], ["upstreams.id"], name=op.f("fk_upstream_versions_upstream_id_upstreams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_versions")),
    )
    with op.batch_alter_table("upstream_versions", schema=None) as batch_op:
        batch_op.create_index("ix_upstream_versions_upstream", ["upstream_id", "id"], unique=False)
    protect_append_only("upstream_versions")

    op.create_table(
        "upstream_status",
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column(
            "cursor", sa.BigInteger(), nullable=False, comment="every raw packet id up to this one is handled"
        ),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("connected_since", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", _TIME, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, comment="connection attempts failed in a row"),
        sa.Column("sent", sa.BigInteger(), nullable=False, comment="frames written, resends included"),
        sa.Column("acked", sa.BigInteger(), nullable=False, comment="9014 replies matched to a sent frame"),
        sa.Column(
            "resent", sa.BigInteger(), nullable=False, comment="frames written again after an ack timeout"
        ),
        sa.Column(
            "forwarded",
            sa.BigInteger(),
            nullable=False,
            comment="packets done: acknowledged, or written when no ack",
        ),
        sa.Column("last_sent_at", _TIME, nullable=True),
        sa.Column("last_ack_at", _TIME, nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column(
            "owner", sa.String(length=128), nullable=True, comment="the forwarder process holding the lease"
        ),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["upstream_id"], ["upstreams.id"], name=op.f("fk_upstream_status_upstream_id_upstreams")
        ),
        sa.PrimaryKeyConstraint("upstream_id", name=op.f("pk_upstream_status")),
    )


def downgrade() -> None:
    op.drop_table("upstream_status")
    with op.batch_alter_table("upstream_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_upstream_versions_upstream")
    op.drop_table("upstream_versions")
    op.drop_table("upstreams")
