"""Registry tables: who and what is monitored.

- ``enterprises`` (排污单位) own ``outlets`` (排放口, gas or water);
- ``devices`` (数采仪, the data loggers the gateway talks to) sit on an outlet and have SM4 keys
  (``device_keys``, with history) and monitored factors (``device_factors``: unit, range 量程,
  detection limit);
- ``emission_limits`` per outlet and factor, with validity dates and their legal source;
- ``operators`` (运维单位, operating companies) and their ``contracts`` with enterprises or single outlets;
- ``filings`` (备案: acceptance, filing, change filings) and their ``filing_steps`` (append-only: when
  each duty was done), with ``attachments`` (files in the content-addressed blob store).

Master data (enterprises … contracts) is edited in place with ``updated_at``; history that decides
compliance (limits, keys, filing steps, attachments) is kept as rows that are never changed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from envwatch.core.db import BigId, ExactDecimal, UtcDateTime, metadata

enterprises = Table(
    "enterprises",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, comment="排污单位名称"),
    Column("credit_code", String(18), nullable=False, unique=True, comment="统一社会信用代码 (GB 32100)"),
    Column("region_code", String(6), nullable=False, comment="行政区划代码 (GB/T 2260), 6 digits"),
    Column("industry", String(100), nullable=False, default="", comment="行业类别"),
    Column(
        "attention_level",
        String(16),
        nullable=False,
        default="other",
        comment="重点排污单位级别: national | provincial | city | county | other",
    ),
    Column("address", String(300), nullable=False, default=""),
    Column("longitude", ExactDecimal, nullable=True),
    Column("latitude", ExactDecimal, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_enterprises_region", "region_code"),
)

outlets = Table(
    "outlets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=False),
    Column("code", String(32), nullable=False, comment="排放口编号, e.g. DA001 (gas), DW001 (water)"),
    Column("name", String(200), nullable=False),
    Column("kind", String(8), nullable=False, comment="gas | water"),
    Column("longitude", ExactDecimal, nullable=True),
    Column("latitude", ExactDecimal, nullable=True),
    Column("permit_number", String(64), nullable=False, default="", comment="排污许可证编号"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column(
        "service_zone",
        String(12),
        nullable=False,
        server_default="urban",
        comment="urban 城区 | suburban 郊区 | remote 偏远: decides the O&M on-site clock (CS-4.3.3)",
    ),
    UniqueConstraint("enterprise_id", "code", name="uq_outlets_enterprise_code"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "mn", String(32), nullable=False, unique=True, comment="HJ 212 MN: 24 hex chars (2017), 14 (2005)"
    ),
    Column("pw", String(32), nullable=False, comment="HJ 212 access password"),
    Column("name", String(200), nullable=False),
    # names as shown; once a device sits on an outlet (outlet_id) they are that outlet's enterprise and name
    Column("enterprise", String(200), nullable=False, comment="排污单位"),
    Column("outlet", String(200), nullable=False, comment="排放口"),
    Column("kind", String(8), nullable=False, comment="gas | water"),
    Column("protocol", String(8), nullable=False, comment="2017 | 2025"),
    Column(
        "crc_variants",
        String(64),
        nullable=False,
        default="standard",
        comment="comma list of accepted CRC variants: standard, modbus, modbus_swapped (field quirks)",
    ),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("outlet_id", Integer, ForeignKey("outlets.id"), nullable=True, comment="the outlet it monitors"),
    Column("model", String(100), nullable=False, server_default="", comment="型号"),
    Column("serial", String(100), nullable=False, server_default="", comment="出厂编号"),
)

# SM4 keys are kept with their history (HJ 212-2025 §6.4.3: rotated every 90 days, via CN 1014):
# the newest row is the current key; old rows are never changed, so past traffic stays decryptable.
device_keys = Table(
    "device_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("key_hex", String(32), nullable=False),
    Column("source", Text, nullable=False, comment="import | api | cn1014"),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_device_keys_device", "device_id", "id"),
)

device_factors = Table(
    "device_factors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("factor", String(32), nullable=False, comment="HJ 212 pollutant code, e.g. a21026 (SO2)"),
    Column("unit", String(32), nullable=False, default="", comment="e.g. mg/m3, mg/L, m3/h"),
    Column("range_low", ExactDecimal, nullable=True, comment="量程下限"),
    Column("range_high", ExactDecimal, nullable=True, comment="量程上限"),
    Column("detection_limit", ExactDecimal, nullable=True, comment="检出限"),
    Column(
        "rated",
        Integer,
        nullable=False,
        default=1,
        comment="1: counted in the effective transmission rate (有效传输率); 0: auxiliary (O2, flow, T, ...)",
    ),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column(
        "basis",
        String(16),
        nullable=False,
        server_default="standard_dry",
        comment="how the device reports gas concentrations: standard_dry 标态干基 (CEMS practice) | "
        "standard_wet 标态湿基 | actual_wet 工况湿基; the platform converts the other two to standard dry",
    ),
    UniqueConstraint("device_id", "factor", name="uq_device_factors_device_factor"),
)

# A limit is never edited: a new limit is a new row with its own valid_from (the old one gets no
# valid_to change either: the newest row whose valid_from ≤ t applies, unless its valid_to is past).
emission_limits = Table(
    "emission_limits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("outlet_id", Integer, ForeignKey("outlets.id"), nullable=False),
    Column("factor", String(32), nullable=False),
    Column(
        "hour_limit", ExactDecimal, nullable=True, comment="小时均值限值 (converted concentration for gas)"
    ),
    Column("day_limit", ExactDecimal, nullable=True, comment="日均值限值"),
    Column("unit", String(32), nullable=False, default=""),
    Column("reference_o2", ExactDecimal, nullable=True, comment="基准氧含量 % (gas), e.g. 6 for coal power"),
    Column("ph_low", ExactDecimal, nullable=True, comment="pH lower bound (water)"),
    Column("ph_high", ExactDecimal, nullable=True, comment="pH upper bound (water)"),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True, comment="last day it applies; empty = open"),
    Column(
        "legal_source",
        String(300),
        nullable=False,
        comment="standard or permit clause, e.g. GB 13223-2011 表1",
    ),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_emission_limits_outlet", "outlet_id", "factor", "valid_from"),
)

operators = Table(
    "operators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, comment="运维单位名称"),
    Column("credit_code", String(18), nullable=False, unique=True, comment="统一社会信用代码"),
    Column("contact", String(100), nullable=False, default=""),
    Column("phone", String(32), nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

contracts = Table(
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=False),
    Column(
        "outlet_id",
        Integer,
        ForeignKey("outlets.id"),
        nullable=True,
        comment="empty: every outlet of the enterprise",
    ),
    Column("contract_no", String(64), nullable=False, comment="运维合同编号"),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("operator_id", "contract_no", name="uq_contracts_operator_no"),
)

filings = Table(
    "filings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "kind",
        String(32),
        nullable=False,
        comment="acceptance 验收 | filing 备案 | major_change 重大变更 | gas_core_part 核心部件更换 | content_change 备案内容变更",
    ),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=False),
    Column("outlet_id", Integer, ForeignKey("outlets.id"), nullable=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=True),
    Column("title", String(300), nullable=False),
    Column(
        "event_at", UtcDateTime, nullable=False, comment="what the deadline counts from (change start, ...)"
    ),
    Column("notes", Text, nullable=False, default=""),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_filings_enterprise", "enterprise_id", "event_at"),
)

filing_steps = Table(
    "filing_steps",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("filing_id", Integer, ForeignKey("filings.id"), nullable=False),
    Column(
        "step",
        String(32),
        nullable=False,
        comment="filed 已备案 | accepted 验收通过 | debug_tested 调试检测完成 | reconnected 已联网 | withdrawn",
    ),
    Column(
        "done_at", UtcDateTime, nullable=False, comment="when it was done (may be before it was recorded)"
    ),
    Column("note", Text, nullable=False, default=""),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_filing_steps_filing", "filing_id", "id"),
)

# Files are kept by content (sha256) in the blob store under the data directory; this table says which
# record a file belongs to. Never updated or deleted.
attachments = Table(
    "attachments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("owner_kind", String(16), nullable=False, comment="filing | mark | ..."),
    Column("owner_id", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("added_by", String(100), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Index("ix_attachments_owner", "owner_kind", "owner_id"),
)
