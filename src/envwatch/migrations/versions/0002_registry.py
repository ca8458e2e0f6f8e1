"""registry: enterprises, outlets, factors, limits, operators, contracts, filings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 14:57:33.577735
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import envwatch.core.db
from envwatch.migrations.append_only import protect_append_only

# history that decides compliance: never changed, corrections are new rows
APPEND_ONLY = ("emission_limits", "filing_steps", "attachments")


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("owner_kind", sa.String(length=16), nullable=False, comment="filing | mark | ..."),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index("ix_attachments_owner", ["owner_kind", "owner_id"], unique=False)

    op.create_table(
        "enterprises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False, comment="排污单位名称"),
        sa.Column("credit_code", sa.String(length=18), nullable=False, comment="统一社会信用代码 (GB 32100)"),
        sa.Column(
            "region_code", sa.String(length=6), nullable=False, comment="行政区划代码 (GB/T 2260), 6 digits"
        ),
        sa.Column("industry", sa.String(length=100), nullable=False, comment="行业类别"),
        sa.Column(
            "attention_level",
            sa.String(length=16),
            nullable=False,
            comment="重点排污单位级别: national | provincial | city | county | other",
        ),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("longitude", envwatch.core.db.ExactDecimal(length=48), nullable=True),
        sa.Column("latitude", envwatch.core.db.ExactDecimal(length=48), nullable=True),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_enterprises_credit_code")),
    )
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.create_index("ix_enterprises_region", ["region_code"], unique=False)

    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False, comment="运维单位名称"),
        sa.Column("credit_code", sa.String(length=18), nullable=False, comment="统一社会信用代码"),
        sa.Column("contact", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_operators_credit_code")),
    )
    op.create_table(
        "outlets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column(
            "code",
            sa.String(length=32),
            nullable=False,
            comment="排放口编号, e.g. DA001 (gas), DW001 (water)",
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False, comment="gas | water"),
        sa.Column("longitude", envwatch.core.db.ExactDecimal(length=48), nullable=True),
        sa.Column("latitude", envwatch.core.db.ExactDecimal(length=48), nullable=True),
        sa.Column("permit_number", sa.String(length=64), nullable=False, comment="排污许可证编号"),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_outlets_enterprise_id_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outlets")),
        sa.UniqueConstraint("enterprise_id", "code", name="uq_outlets_enterprise_code"),
    )
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("outlet_id", sa.Integer(), nullable=True, comment="empty: every outlet of the enterprise"),
        sa.Column("contract_no", sa.String(length=64), nullable=False, comment="运维合同编号"),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_contracts_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_contracts_operator_id_operators")
        ),
        sa.ForeignKeyConstraint(["outlet_id"], ["outlets.id"], name=op.f("fk_contracts_outlet_id_outlets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("operator_id", "contract_no", name="uq_contracts_operator_no"),
    )
    op.create_table(
        "emission_limits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outlet_id", sa.Integer(), nullable=False),
        sa.Column("factor", sa.String(length=32), nullable=False),
        sa.Column(
            "hour_limit",
            envwatch.core.db.ExactDecimal(length=48),
            nullable=True,
            comment="小时均值限值 (converted concentration for gas)",
        ),
        sa.Column("day_limit", envwatch.core.db.ExactDecimal(length=48), nullable=True, comment="日均值限值"),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column(
            "reference_o2",
            envwatch.core.db.ExactDecimal(length=48),
            nullable=True,
            comment="基准氧含量 % (gas), e.g. 6 for coal power",
        ),
        sa.Column(
            "ph_low",
            envwatch.core.db.ExactDecimal(length=48),
            nullable=True,
            comment="pH lower bound (water)",
        ),
        sa.Column(
            "ph_high",
            envwatch.core.db.ExactDecimal(length=48),
            nullable=True,
            comment="pH upper bound (water)",
        ),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True, comment="last day it applies; empty = open"),
        sa.Column(
            "legal_source",
            sa.String(length=300),
            nullable=False,
            comment="standard or permit clause, e.g. GB 13223-2011 表1",
        ),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outlet_id"], ["outlets.id"], name=op.f("fk_emission_limits_outlet_id_outlets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emission_limits")),
    )
    with op.batch_alter_table("emission_limits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_emission_limits_outlet", ["outlet_id", "factor", "valid_from"], unique=False
        )

    op.create_table(
        "device_factors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column(
            "factor", sa.String(length=32), nullable=False, comment="HJ 212 pollutant code, e.g. a21026 (SO2)"
        ),
        sa.Column("unit", sa.String(length=32), nullable=False, comment="e.g. mg/m3, mg/L, m3/h"),
        sa.Column("range_low", envwatch.core.db.ExactDecimal(length=48), nullable=True, comment="量程下限"),
        sa.Column("range_high", envwatch.core.db.ExactDecimal(length=48), nullable=True, comment="量程上限"),
        sa.Column(
            "detection_limit", envwatch.core.db.ExactDecimal(length=48), nullable=True, comment="检出限"
        ),
        sa.Column(
            "rated",
            sa.Integer(),
            nullable=False,
            comment="1: counted in the effective transmission rate (有效传输率); 0: auxiliary (O2, flow, T, ...)",
        ),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_factors_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_factors")),
        sa.UniqueConstraint("device_id", "factor", name="uq_device_factors_device_factor"),
    )
    op.create_table(
        "filings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.String(length=32),
            nullable=False,
            comment="acceptance 验收 | filing 备案 | major_change 重大变更 | gas_core_part 核心部件更换 | content_change 备案内容变更",
        ),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("outlet_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column(
            "event_at",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=False,
            comment="what the deadline counts from (change start, ...)",
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_filings_device_id_devices")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_filings_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(["outlet_id"], ["outlets.id"], name=op.f("fk_filings_outlet_id_outlets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filings")),
    )
    with op.batch_alter_table("filings", schema=None) as batch_op:
        batch_op.create_index("ix_filings_enterprise", ["enterprise_id", "event_at"], unique=False)

    op.create_table(
        "filing_steps",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("filing_id", sa.Integer(), nullable=False),
        sa.Column(
            "step",
            sa.String(length=32),
            nullable=False,
            comment="filed 已备案 | accepted 验收通过 | debug_tested 调试检测完成 | reconnected 已联网 | withdrawn",
        ),
        sa.Column(
            "done_at",
            envwatch.core.db.UtcDateTime(timezone=True),
            nullable=False,
            comment="when it was done (may be before it was recorded)",
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", envwatch.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["filing_id"], ["filings.id"], name=op.f("fk_filing_steps_filing_id_filings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filing_steps")),
    )
    with op.batch_alter_table("filing_steps", schema=None) as batch_op:
        batch_op.create_index("ix_filing_steps_filing", ["filing_id", "id"], unique=False)

    # Plain ADD COLUMN, not a batch copy: SQLite cannot drop the old devices table while measurements
    # and keys point at it. SQLite accepts an inline REFERENCES on a column added with a NULL default.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE devices ADD COLUMN outlet_id INTEGER REFERENCES outlets (id)")
    else:
        op.add_column(
            "devices", sa.Column("outlet_id", sa.Integer(), nullable=True, comment="the outlet it monitors")
        )
        op.create_foreign_key(
            op.f("fk_devices_outlet_id_outlets"), "devices", "outlets", ["outlet_id"], ["id"]
        )
    op.add_column(
        "devices",
        sa.Column("model", sa.String(length=100), server_default="", nullable=False, comment="型号"),
    )
    op.add_column(
        "devices",
        sa.Column("serial", sa.String(length=100), server_default="", nullable=False, comment="出厂编号"),
    )
    for table in APPEND_ONLY:
        protect_append_only(table)


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        if op.get_bind().dialect.name != "sqlite":  # SQLite's inline REFERENCES has no name to drop
            batch_op.drop_constraint(batch_op.f("fk_devices_outlet_id_outlets"), type_="foreignkey")
        batch_op.drop_column("serial")
        batch_op.drop_column("model")
        batch_op.drop_column("outlet_id")

    with op.batch_alter_table("filing_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_filing_steps_filing")

    op.drop_table("filing_steps")
    with op.batch_alter_table("filings", schema=None) as batch_op:
        batch_op.drop_index("ix_filings_enterprise")

    op.drop_table("filings")
    op.drop_table("device_factors")
    with op.batch_alter_table("emission_limits", schema=None) as batch_op:
        batch_op.drop_index("ix_emission_limits_outlet")

    op.drop_table("emission_limits")
    op.drop_table("contracts")
    op.drop_table("outlets")
    op.drop_table("operators")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_index("ix_enterprises_region")

    op.drop_table("enterprises")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index("ix_attachments_owner")

    op.drop_table("attachments")
