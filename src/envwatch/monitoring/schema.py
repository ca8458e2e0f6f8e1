"""Measurement tables: real-time (2011), minute (2051), hour (2061) and day (2031) values.

One row per (device, kind, DataTime, factor), holding every field the device sent as exact strings plus
the main value as an exact decimal. Rows are never updated: a re-send with other values becomes a
``measurement_conflicts`` row and the first stored value stays (DESIGN convention 5).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from envwatch.core.db import BigId, ExactDecimal, UtcDateTime, metadata

# HJ 212 data CN → measurement kind
KIND_BY_CN = {"2011": "rtd", "2051": "minute", "2061": "hour", "2031": "day"}
# which field carries the main value of each kind
VALUE_FIELD = {"rtd": "Rtd", "minute": "Avg", "hour": "Avg", "day": "Avg"}
KINDS = tuple(KIND_BY_CN.values())

measurements = Table(
    "measurements",
    metadata,
    # The natural key is the primary key: it makes re-sends idempotent, serves every time-range read of
    # one device, and (WITHOUT ROWID on SQLite) each row costs one B-tree insert instead of two.
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("kind", String(8), primary_key=True, comment="rtd | minute | hour | day"),
    Column("data_time", UtcDateTime, primary_key=True, comment="DataTime (period start for minute/hour/day)"),
    Column("factor", String(32), primary_key=True, comment="pollutant code, e.g. a21026"),
    Column("value", ExactDecimal, nullable=True, comment="Rtd (rtd) or Avg; null when not a number"),
    Column("flag", String(8), nullable=True, comment="data flag N/F/M/S/D/C/T/B as sent"),
    Column(
        "fields", JSON, nullable=False, comment="every field of the group as sent: {Rtd: '12.3', Flag: 'N'}"
    ),
    Column("packet_id", BigInteger, nullable=False, comment="raw_packets.id of the frame that brought it"),
    Column("backfill", Boolean, nullable=False, comment="RF=1 or a history reply (补传)"),
    Column("received_at", UtcDateTime, nullable=False),
    sqlite_with_rowid=False,
)

measurement_conflicts = Table(
    "measurement_conflicts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("data_time", UtcDateTime, nullable=False),
    Column("factor", String(32), nullable=False),
    Column("packet_id", BigInteger, nullable=False, comment="the re-send that disagreed"),
    Column("stored_packet_id", BigInteger, nullable=False, comment="the packet whose values are stored"),
    Column("stored_fields", JSON, nullable=False),
    Column("new_fields", JSON, nullable=False),
    Column("detected_at", UtcDateTime, nullable=False),
    Index("ix_measurement_conflicts_device", "device_id", "data_time"),
)
