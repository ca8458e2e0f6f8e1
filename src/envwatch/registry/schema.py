"""Registry tables: the data loggers (数采仪) allowed to talk to the gateway, and their SM4 keys.

The full registry (enterprises, outlets, factors, limits, operators, filings) grows here; for now a device
names its enterprise and outlet as text.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from envwatch.core.db import BigId, UtcDateTime, metadata

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "mn", String(32), nullable=False, unique=True, comment="HJ 212 MN: 24 hex chars (2017), 14 (2005)"
    ),
    Column("pw", String(32), nullable=False, comment="HJ 212 access password"),
    Column("name", String(200), nullable=False),
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
