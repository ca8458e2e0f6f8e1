"""Operating companies' staff (运维人员), their certificates and training (CS-4.5, WZ-A2-5).

- ``staff``: the personnel file; name, position and whether the person still works there change in
  place (``updated_at``), everything that proves something is in the append-only tables below.
- ``staff_certificates``: a certificate (上岗证 / 持证) with its validity; a renewal is a new row. Field
  work may be assigned only to someone holding a certificate valid on that day. Append-only: a mistyped
  row is corrected by a new row with ``supersedes_id`` (at most one per row, the unique constraint), or
  withdrawn by one with ``withdrawn`` true; only rows neither superseded nor withdrawing count.
- ``trainings``: a planned or held training (培训计划; ``quarterly`` re-training, ``sampling_label`` for the
  sample-label system WZ-A2-5, ...). Append-only.
- ``training_results``: one person's test result in one training. Append-only; a retest is a new row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from envwatch.core.db import BigId, ExactDecimal, UtcDateTime, metadata

staff = Table(
    "staff",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column(
        "position",
        String(32),
        nullable=False,
        comment="field_engineer 运维工程师 | sampler 采样员 | auditor 审核员 | manager 负责人 | other",
    ),
    Column("phone", String(32), nullable=False),
    Column("username", String(64), nullable=True, comment="the web account of this person, if any"),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_staff_operator", "operator_id"),
    # one account, one person; NULLs do not collide (SQLite and PostgreSQL): any number without an account
    Index("ux_staff_username", "username", unique=True),
)

staff_certificates = Table(
    "staff_certificates",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("staff_id", Integer, ForeignKey("staff.id"), nullable=False),
    Column("kind", String(64), nullable=False, comment="e.g. 自动监测运维上岗证 (gas / water)"),
    Column("number", String(64), nullable=False),
    Column("issuer", String(200), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("valid_until", Date, nullable=False, comment="the last day it is valid"),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column(
        "supersedes_id",
        BigInteger,
        ForeignKey("staff_certificates.id"),
        nullable=True,
        comment="the certificate row this one corrects or withdraws",
    ),
    Column(
        "withdrawn",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="true: withdraws the row it supersedes (recorded by mistake), no replacement",
    ),
    Column(
        "reason",
        Text,
        nullable=False,
        server_default="",
        comment="why the superseded row was corrected or withdrawn; empty on a first recording",
    ),
    Index("ix_staff_certificates_staff", "staff_id", "valid_until"),
    UniqueConstraint("supersedes_id", name="uq_staff_certificates_supersedes_id"),
)

trainings = Table(
    "trainings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column(
        "kind",
        String(24),
        nullable=False,
        comment="quarterly 季度再培训 | sampling_label 采样标签系统 | onboarding 岗前 | emergency 应急 | other",
    ),
    Column("title", String(200), nullable=False),
    Column("planned_on", Date, nullable=False),
    Column("held_on", Date, nullable=True, comment="empty: planned, not held yet"),
    Column("pass_score", ExactDecimal, nullable=False, comment="a result at or above it passes"),
    Column(
        "supersedes_id",
        BigInteger,
        ForeignKey("trainings.id"),
        nullable=True,
        comment="the plan this row replaces (held, moved or corrected)",
    ),
    Column("note", Text, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_trainings_operator", "operator_id", "planned_on"),
)

training_results = Table(
    "training_results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("training_id", BigInteger, ForeignKey("trainings.id"), nullable=False),
    Column("staff_id", Integer, ForeignKey("staff.id"), nullable=False),
    Column("score", ExactDecimal, nullable=False),
    Column("passed", Boolean, nullable=False, comment="score ≥ the training's pass_score"),
    Column("tested_on", Date, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_training_results_staff", "staff_id", "tested_on"),
    Index("ix_training_results_training", "training_id"),
)
