"""Measurement tables: real-time (2011), minute (2051), hour (2061) and day (2031) values.

One row per (device, kind, DataTime): the factors of a data packet, every field as the exact string the
device sent. Rows are never updated: a re-send with other values becomes ``measurement_conflicts`` rows
(one per factor) and the first stored value stays; factors the first packet lacked go into a further
``part`` (DESIGN convention 5).
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
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB

from envwatch.core.db import BigId, UtcDateTime, metadata

# HJ 212 data CN → measurement kind
KIND_BY_CN = {"2011": "rtd", "2051": "minute", "2061": "hour", "2031": "day"}
# which field carries the main value of each kind
VALUE_FIELD = {"rtd": "Rtd", "minute": "Avg", "hour": "Avg", "day": "Avg"}
KINDS = tuple(KIND_BY_CN.values())

measurements = Table(
    "measurements",
    metadata,
    # One row per data packet, as the protocol sends it (one DataTime, every factor): the wide record of
    # Chinese monitoring platforms. Why not one row per factor: rows are inserted in device order, so each
    # packet dirties its own B-tree pages whatever their size; one row instead of nine cut SQLite's work
    # per packet by ~40 % (the ingest benchmark's bottleneck). Readers see one row per factor anyway
    # (monitoring.store).
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("kind", String(8), primary_key=True, comment="rtd | minute | hour | day"),
    Column("data_time", UtcDateTime, primary_key=True, comment="DataTime (period start for minute/hour/day)"),
    Column(
        "part",
        SmallInteger,
        primary_key=True,
        comment="0: the first packet for this time; 1, 2, ...: factors a later packet added (补充)",
    ),
    Column(
        "factors",
        JSON().with_variant(JSONB(), "postgresql"),
        nullable=False,
        comment="every factor's fields exactly as sent: {a21026: {Rtd: '12.3', Flag: 'N'}}",
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
