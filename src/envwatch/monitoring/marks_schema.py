"""Mark tables (标记): ``marks`` and their ``mark_reviews``, both append-only (DESIGN convention 5).

A correction is a new ``marks`` row whose ``supersedes_id`` points at the row it replaces; a withdrawal
is a row with ``action = 'withdraw'`` that supersedes and cancels. The old rows stay, with who and when,
so a rate can be recomputed "as it stood" at any time. ``supersedes_id`` is unique: a mark is superseded
at most once, and the database (not only the code) refuses a second, concurrent correction of it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from envwatch.core.db import BigId, UtcDateTime, metadata

marks = Table(
    "marks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("factor", String(32), nullable=True, comment="HJ 212 factor code; empty = the whole device"),
    Column("start_at", UtcDateTime, nullable=False, comment="inclusive"),
    Column("end_at", UtcDateTime, nullable=False, comment="exclusive"),
    Column("code", String(32), nullable=False, comment="mark code (monitoring/data/mark_codes.json)"),
    Column("reason", Text, nullable=False, comment="标记原因"),
    Column("source", String(16), nullable=False, comment="enterprise | operator | regulator | auto | api"),
    Column(
        "supersedes_id",
        BigInteger,
        ForeignKey("marks.id"),
        nullable=True,
        comment="the mark this row corrects or withdraws",
    ),
    Column("action", String(8), nullable=False, comment="mark | withdraw"),
    Column("late", Boolean, nullable=False, comment="entered after the marking deadline (补标, accepted)"),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("end_at > start_at", name="range"),
    CheckConstraint("action IN ('mark', 'withdraw')", name="action"),
    CheckConstraint("length(trim(reason)) > 0", name="reason"),
    UniqueConstraint("supersedes_id", name="uq_marks_supersedes_id"),
    Index("ix_marks_device", "device_id", "start_at"),
)

mark_reviews = Table(
    "mark_reviews",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("mark_id", BigInteger, ForeignKey("marks.id"), nullable=False),
    Column("decision", String(16), nullable=False, comment="approved | rejected (审核)"),
    Column("note", Text, nullable=False, default=""),
    Column("reviewed_by", String(100), nullable=False),
    Column("reviewed_at", UtcDateTime, nullable=False),
    CheckConstraint("decision IN ('approved', 'rejected')", name="decision"),
    Index("ix_mark_reviews_mark", "mark_id", "id"),
)
