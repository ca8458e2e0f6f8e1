"""marks: marks (标记) and their reviews, append-only

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import envwatch.core.db
from envwatch.migrations.append_only import protect_append_only

# a correction is a new mark that supersedes the old one; a review is never changed either
APPEND_ONLY = ("marks", "mark_reviews")


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column(
            "factor",
            sa.String(length=32),
            nullable=True,
            comment="HJ 212 factor code; empty = the whole device",
        ),
        sa.Column(
            "start_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False, comment="inclusive"
        ),
        sa.Column("end_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False, comment="exclusive"),
        sa.Column(
            "code",
            sa.String(length=32),
            nullable=False,
            comment="mark code (monitoring/data/mark_codes.json)",
        ),
        sa.Column("reason", sa.Text(), nullable=False, comment="标记原因"),
        sa.Column(
            "source",
            sa.String(length=16),
            nullable=False,
            comment="enterprise | operator | regulator | auto | api",
        ),
        sa.Column(
            "supersedes_id",
            sa.BigInteger(),
            nullable=True,
            comment="the mark this row corrects or withdraws",
        ),
        sa.Column("action", sa.String(length=8), nullable=False, comment="mark | withdraw"),
        sa.Column(
            "late",
            sa.Boolean(),
            nullable=False,
            comment="entered after the marking deadline (补标, accepted)",
        ),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_marks_range")),
        sa.CheckConstraint("action IN ('mark', 'withdraw')", name=op.f("ck_marks_action")),
        sa.CheckConstraint("length(trim(reason)) > 0", name=op.f("ck_marks_reason")),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_marks_device_id_devices")),
        sa.ForeignKeyConstraint(["supersedes_id"], ["marks.id"], name=op.f("fk_marks_supersedes_id_marks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marks")),
        sa.UniqueConstraint("supersedes_id", name="uq_marks_supersedes_id"),
    )
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.create_index("ix_marks_device", ["device_id", "start_at"], unique=False)

    op.create_table(
        "mark_reviews",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("mark_id", sa.BigInteger(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False, comment="approved | rejected (审核)"),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=False),
        sa.Column("reviewed_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("decision IN ('approved', 'rejected')", name=op.f("ck_mark_reviews_decision")),
        sa.ForeignKeyConstraint(["mark_id"], ["marks.id"], name=op.f("fk_mark_reviews_mark_id_marks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mark_reviews")),
    )
    with op.batch_alter_table("mark_reviews", schema=None) as batch_op:
        batch_op.create_index("ix_mark_reviews_mark", ["mark_id", "id"], unique=False)

    for table in APPEND_ONLY:
        protect_append_only(table)


def downgrade() -> None:
    # dropping a table drops its triggers with it (SQLite and PostgreSQL)
    with op.batch_alter_table("mark_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_mark_reviews_mark")

    op.drop_table("mark_reviews")
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.drop_index("ix_marks_device")

    op.drop_table("marks")
