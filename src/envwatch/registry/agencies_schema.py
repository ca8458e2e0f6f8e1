"""Testing agencies (检测机构 / 生态环境服务机构) and their people, for the sample-label system (WZ-A2).

- ``agencies``: master data like operators; ``code`` is the short readable part of every sample code the
  agency is issued (``330302-WZJC-…``), so it never changes once codes exist (the store refuses a change).
  ``region_code`` places the agency under the regulators of its region.
- ``agency_staff``: the agency's people and what they do (sampler 采样员, receiver 样品管理员 who takes samples
  over, analyst 分析人员, manager 负责人); ``username`` links a web account (role ``agency``) to the person.
  Name, position and active change in place (``updated_at``).
- ``agency_trainings``: one person's training and test in the label system (识别标识系统操作培训, WZ-A2-5),
  append-only; a sampler may enter on-site data only while holding a passed training valid that day. A
  mistaken row is withdrawn by a new row with ``supersedes_id`` and ``withdrawn`` true.
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

agencies = Table(
    "agencies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, comment="检测机构名称"),
    Column("credit_code", String(18), nullable=False, unique=True, comment="统一社会信用代码 (GB 32100)"),
    Column("code", String(8), nullable=False, unique=True, comment="short code in sample codes, A-Z 0-9"),
    Column("region_code", String(6), nullable=False, comment="行政区划代码 of its seat, 6 digits"),
    Column("contact", String(100), nullable=False, default=""),
    Column("phone", String(32), nullable=False, default=""),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_agencies_region", "region_code"),
)

agency_staff = Table(
    "agency_staff",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column(
        "position",
        String(16),
        nullable=False,
        comment="sampler 采样员 | receiver 样品管理员 | analyst 分析人员 | manager 负责人 | other",
    ),
    Column("phone", String(32), nullable=False, default=""),
    Column("username", String(64), nullable=True, comment="the web account of this person, if any"),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_agency_staff_agency", "agency_id"),
    Index("ux_agency_staff_username", "username", unique=True),
)

agency_trainings = Table(
    "agency_trainings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("staff_id", Integer, ForeignKey("agency_staff.id"), nullable=False),
    Column("title", String(200), nullable=False, comment="e.g. 识别标识系统操作培训 (上岗)"),
    Column("held_on", Date, nullable=False),
    Column("score", ExactDecimal, nullable=True),
    Column("passed", Boolean, nullable=False, comment="the test was passed (考核合格)"),
    Column("valid_until", Date, nullable=False, comment="the last day it counts"),
    Column("note", Text, nullable=False, default=""),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("supersedes_id", BigInteger, ForeignKey("agency_trainings.id"), nullable=True),
    Column("withdrawn", Boolean, nullable=False, server_default=false()),
    Index("ix_agency_trainings_staff", "staff_id", "valid_until"),
    UniqueConstraint("supersedes_id", name="uq_agency_trainings_supersedes_id"),
)
