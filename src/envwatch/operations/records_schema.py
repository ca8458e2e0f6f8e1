"""Field records (运维记录) and the certified reference materials they use (标准物质).

- ``field_records``: one row per piece of work done at a device (巡检, 校准, 标样核查, 比对监测, 耗材/试剂
  更换, 维修, 参数变更, 废液处置), with who, when and where (the GPS sign-in and its distance from the
  outlet). What differs by kind sits in ``payload`` (checked by ``operations.field_kinds``); the judged
  result (drift within limits, comparison passed) is stored beside it as ``verdict`` so lists and reports
  need not re-judge. Append-only: a correction is a new row with ``supersedes_id``.
- ``reference_materials``: a standard gas or standard solution certificate (证书) with its validity date
  (SX-20.5). Append-only: a renewed bottle is a new row.

``keep_until`` is the end of the retention period (SX-18.2: 3 years; SX-18.6: 5 years for comparison
monitoring), fixed when the row is written so that a later change of the setting cannot shorten it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
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

field_records = Table(
    "field_records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "kind",
        String(24),
        nullable=False,
        comment="inspection 巡检 | calibration 校准 | standard_check 标样核查 | comparison 比对监测 | "
        "consumable 耗材试剂更换 | repair 维修 | parameter_change 参数变更 | waste_liquid 废液处置",
    ),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("staff_id", Integer, ForeignKey("staff.id"), nullable=False, comment="who did the work"),
    Column("performed_at", UtcDateTime, nullable=False, comment="when the work was done on site"),
    Column("latitude", ExactDecimal, nullable=True, comment="GPS sign-in (WGS 84)"),
    Column("longitude", ExactDecimal, nullable=True),
    Column("distance_m", Integer, nullable=True, comment="sign-in distance from the outlet, metres"),
    Column(
        "on_site",
        String(12),
        nullable=False,
        comment="yes: within the allowed distance | no: farther | unknown: no position or no outlet position",
    ),
    Column("payload", JSON, nullable=False, comment="what the kind records (operations.field_kinds)"),
    Column("verdict", String(8), nullable=False, comment="pass | fail | none (nothing to judge)"),
    Column("note", Text, nullable=False),
    Column(
        "supersedes_id",
        BigInteger,
        ForeignKey("field_records.id"),
        nullable=True,
        comment="the record this row corrects",
    ),
    Column("keep_until", Date, nullable=False, comment="retention end (SX-18.2 3 y, SX-18.6 5 y)"),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    CheckConstraint("verdict IN ('pass', 'fail', 'none')", name="verdict"),
    UniqueConstraint("supersedes_id", name="uq_field_records_supersedes_id"),
    Index("ix_field_records_device", "device_id", "performed_at"),
    Index("ix_field_records_operator", "operator_id", "performed_at"),
)

reference_materials = Table(
    "reference_materials",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("kind", String(12), nullable=False, comment="gas 标准气体 | solution 标准溶液"),
    Column("name", String(200), nullable=False, comment="e.g. SO2 in N2"),
    Column("certificate_no", String(64), nullable=False, comment="证书编号"),
    Column("lot", String(64), nullable=False, comment="批号 / 瓶号"),
    Column("concentration", ExactDecimal, nullable=True),
    Column("unit", String(32), nullable=False),
    Column("uncertainty", String(64), nullable=False, comment="as printed, e.g. 2% (k=2)"),
    Column("maker", String(200), nullable=False),
    Column("valid_until", Date, nullable=False, comment="有效期至 (the last day it may be used)"),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_reference_materials_operator", "operator_id", "valid_until"),
)

# Which reference materials a record used (a calibration may use a zero gas and a span gas).
field_record_materials = Table(
    "field_record_materials",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("record_id", BigInteger, ForeignKey("field_records.id"), nullable=False),
    Column("material_id", BigInteger, ForeignKey("reference_materials.id"), nullable=False),
    Index("ix_field_record_materials_record", "record_id"),
)

# SX-19: an operator registers (报备) with the city bureau before working there.
operator_registrations = Table(
    "operator_registrations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("region_code", String(6), nullable=False, comment="the city (GB/T 2260) registered with"),
    Column("bureau", String(200), nullable=False, comment="受理的生态环境局"),
    Column("reference_no", String(64), nullable=False, comment="备案编号"),
    Column("registered_on", Date, nullable=False),
    Column("valid_until", Date, nullable=True, comment="empty: no end"),
    Column("withdrawn", Boolean, nullable=False, comment="a later row withdrawing the registration"),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_operator_registrations_operator", "operator_id", "region_code", "id"),
)
