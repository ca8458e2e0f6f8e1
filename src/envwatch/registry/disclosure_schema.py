"""The disclosure settings table (信息公开设置, SX-7): ``disclosure_settings``, append-only.

An enterprise must publish its automatic monitoring data 如实、及时、完整 (SX-7), so the settings are
evidence of who withdrew or changed what and when: a change is a new row, the newest row of an
enterprise (highest id) is in force, and the database refuses UPDATE and DELETE (migration 0007). An
enterprise without any row is published with an empty contact (:mod:`envwatch.registry.disclosure`).
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text

from envwatch.core.db import BigId, UtcDateTime, metadata

STATEMENT_MAX = 2000  # characters of the enterprise's statement (说明)

disclosure_settings = Table(
    "disclosure_settings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=False),
    Column("published", Boolean, nullable=False, comment="false: withdrawn from /public by an admin"),
    Column("contact_name", String(100), nullable=False, comment="联系人 shown to the public"),
    Column("contact_phone", String(32), nullable=False, comment="联系电话 shown to the public"),
    Column(
        "statement", Text, nullable=False, comment="the enterprise's statement (说明), at most 2000 chars"
    ),
    Column("reason", String(500), nullable=False, comment="why not published (required then), or empty"),
    Column("changed_by", String(64), nullable=False, comment="username of who made the change"),
    Column("changed_at", UtcDateTime, nullable=False),
    CheckConstraint(f"length(statement) <= {STATEMENT_MAX}", name="statement_length"),
    CheckConstraint("published OR length(trim(reason)) > 0", name="reason_when_withdrawn"),
    Index("ix_disclosure_settings_enterprise", "enterprise_id", "id"),
)
