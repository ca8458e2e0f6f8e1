"""accounts: users, sessions, API tokens, login failures and the append-only audit log

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import envwatch.core.db
from envwatch.migrations.append_only import protect_append_only

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Utc = envwatch.core.db.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False, comment="login name, lower case"),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.String(length=16),
            nullable=False,
            comment="admin | regulator | enterprise | operator | field_staff | agency | auditor",
        ),
        sa.Column("password_hash", sa.String(length=200), nullable=False, comment="argon2id (PHC string)"),
        sa.Column(
            "region_code",
            sa.String(length=6),
            nullable=True,
            comment="regulator: 行政区划 prefix, 2/4/6 digits",
        ),
        sa.Column("enterprise_id", sa.Integer(), nullable=True, comment="enterprise"),
        sa.Column("operator_id", sa.Integer(), nullable=True, comment="operator, field_staff, auditor"),
        sa.Column("agency_id", sa.Integer(), nullable=True, comment="agency (检测机构)"),
        sa.Column("period_from", sa.Date(), nullable=True, comment="auditor: first day they may read"),
        sa.Column(
            "period_to", sa.Date(), nullable=True, comment="auditor: last day they may read (inclusive)"
        ),
        sa.Column("active", sa.Boolean(), nullable=False, comment="false: cannot log in or use tokens"),
        sa.Column("created_at", Utc(timezone=True), nullable=False),
        sa.Column("updated_at", Utc(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'regulator', 'enterprise', 'operator', 'field_staff', 'agency', 'auditor')",
            name=op.f("ck_users_role"),
        ),
        sa.CheckConstraint(
            "role <> 'regulator' OR (region_code IS NOT NULL AND length(region_code) IN (2, 4, 6))",
            name=op.f("ck_users_regulator_scope"),
        ),
        sa.CheckConstraint(
            "role <> 'enterprise' OR enterprise_id IS NOT NULL", name=op.f("ck_users_enterprise_scope")
        ),
        sa.CheckConstraint(
            "role NOT IN ('operator', 'field_staff') OR operator_id IS NOT NULL",
            name=op.f("ck_users_operator_scope"),
        ),
        sa.CheckConstraint("role <> 'agency' OR agency_id IS NOT NULL", name=op.f("ck_users_agency_scope")),
        sa.CheckConstraint(
            "role <> 'auditor' OR (operator_id IS NOT NULL AND period_from IS NOT NULL "
            "AND period_to IS NOT NULL AND period_to >= period_from)",
            name=op.f("ck_users_auditor_scope"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_users_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_users_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )

    op.create_table(
        "sessions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column(
            "token_hash", sa.String(length=64), nullable=False, comment="SHA-256 hex of the cookie value"
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "csrf_token",
            sa.String(length=64),
            nullable=False,
            comment="sent back in X-CSRF-Token on writes",
        ),
        sa.Column("created_at", Utc(timezone=True), nullable=False),
        sa.Column(
            "last_seen_at",
            Utc(timezone=True),
            nullable=False,
            comment="for the idle timeout (updated lazily)",
        ),
        sa.Column("expires_at", Utc(timezone=True), nullable=False, comment="absolute timeout"),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index("ix_sessions_user", ["user_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, comment="SHA-256 hex of the token"),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "name", sa.String(length=100), nullable=False, comment="what the script is, chosen by the user"
        ),
        sa.Column("created_at", Utc(timezone=True), nullable=False),
        sa.Column("last_used_at", Utc(timezone=True), nullable=True, comment="updated lazily"),
        sa.Column("revoked_at", Utc(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_api_tokens_user", ["user_id"], unique=False)

    op.create_table(
        "login_failures",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column(
            "username",
            sa.String(length=64),
            nullable=False,
            comment="as attempted (lower case), known or not",
        ),
        sa.Column("at", Utc(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_username", ["username", "at"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", Utc(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True, comment="empty: admin token or none"),
        sa.Column(
            "username",
            sa.String(length=64),
            nullable=True,
            comment="principal, or the username a login attempted",
        ),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column(
            "via",
            sa.String(length=16),
            nullable=True,
            comment="admin_token | api_token | session | login",
        ),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True, comment="path parameters, e.g. mn=…"),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True, comment="never passwords or tokens"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_audit_log_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_log_user", ["user_id", "at"], unique=False)

    # the audit trail is evidence: who changed what is never rewritten (DESIGN convention 5)
    protect_append_only("audit_log")


def downgrade() -> None:
    # dropping a table drops its triggers and indexes with it (SQLite and PostgreSQL)
    for table in ("audit_log", "login_failures", "api_tokens", "sessions", "users"):
        op.drop_table(table)
