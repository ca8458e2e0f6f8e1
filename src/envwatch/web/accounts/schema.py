"""Account tables.

``users`` carry a role and the scope that role needs (checked by the database too, so no path can store a
regulator without a region). ``sessions``, ``api_tokens`` and ``login_failures`` are working state, not
evidence: they are changed and deleted freely, and hold only SHA-256 digests of the secrets (a leaked
database does not hand out sessions or tokens). ``audit_log`` is evidence: append-only (DESIGN
convention 5), with no password or token ever written to it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from envwatch.core.db import BigId, UtcDateTime, metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True, comment="login name, lower case"),
    Column("display_name", String(200), nullable=False, default=""),
    Column(
        "role",
        String(16),
        nullable=False,
        comment="admin | regulator | enterprise | operator | field_staff | agency | auditor",
    ),
    Column("password_hash", String(200), nullable=False, comment="argon2id (PHC string)"),
    Column("region_code", String(6), nullable=True, comment="regulator: 行政区划 prefix, 2/4/6 digits"),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=True, comment="enterprise"),
    Column(
        "operator_id",
        Integer,
        ForeignKey("operators.id"),
        nullable=True,
        comment="operator, field_staff, auditor",
    ),
    Column("agency_id", Integer, nullable=True, comment="agency (检测机构)"),
    Column("period_from", Date, nullable=True, comment="auditor: first day they may read"),
    Column("period_to", Date, nullable=True, comment="auditor: last day they may read (inclusive)"),
    Column("active", Boolean, nullable=False, default=True, comment="false: cannot log in or use tokens"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "role IN ('admin', 'regulator', 'enterprise', 'operator', 'field_staff', 'agency', 'auditor')",
        name="role",
    ),
    CheckConstraint(
        "role <> 'regulator' OR (region_code IS NOT NULL AND length(region_code) IN (2, 4, 6))",
        name="regulator_scope",
    ),
    CheckConstraint("role <> 'enterprise' OR enterprise_id IS NOT NULL", name="enterprise_scope"),
    CheckConstraint(
        "role NOT IN ('operator', 'field_staff') OR operator_id IS NOT NULL", name="operator_scope"
    ),
    CheckConstraint("role <> 'agency' OR agency_id IS NOT NULL", name="agency_scope"),
    CheckConstraint(
        "role <> 'auditor' OR (operator_id IS NOT NULL AND period_from IS NOT NULL "
        "AND period_to IS NOT NULL AND period_to >= period_from)",
        name="auditor_scope",
    ),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True, comment="SHA-256 hex of the cookie value"),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False, comment="sent back in X-CSRF-Token on writes"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False, comment="for the idle timeout (updated lazily)"),
    Column("expires_at", UtcDateTime, nullable=False, comment="absolute timeout"),
    Column("ip", String(64), nullable=False, default=""),
    Column("user_agent", String(300), nullable=False, default=""),
    Index("ix_sessions_user", "user_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True, comment="SHA-256 hex of the token"),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False, comment="what the script is, chosen by the user"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=True, comment="updated lazily"),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_api_tokens_user", "user_id"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, comment="as attempted (lower case), known or not"),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_login_failures_username", "username", "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True, comment="empty: admin token or none"),
    Column("username", String(64), nullable=True, comment="principal, or the username a login attempted"),
    Column("role", String(16), nullable=True),
    Column("via", String(16), nullable=True, comment="admin_token | api_token | session | login"),
    Column("method", String(8), nullable=False),
    Column("path", String(500), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("target", String(200), nullable=True, comment="path parameters, e.g. mn=…"),
    Column("ip", String(64), nullable=True),
    Column("detail", JSON, nullable=True, comment="never passwords or tokens"),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_user", "user_id", "at"),
)
