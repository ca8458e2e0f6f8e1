"""Derived tables of the monitoring context: rebuildable caches of what the measurements say, not evidence.

``factor_day_counts``: the effective transmission rate (有效传输率) counts hourly records per factor.
Counting them from the packet records means parsing every record's factors (13 M values a quarter for
1,000 devices: tens of seconds), so these counts are kept up to date as data arrives
(``monitoring.day_counts``) and a quarter's rates are a sum over ~550 k small rows. A device-day's counts
are recomputed from its records whenever a record of that device and day arrives, so rows are rewritten in
place; the evidence stays in ``measurements`` and the counts can be rebuilt from it at any time.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, SmallInteger, String, Table, text

from envwatch.core.db import UtcDateTime, metadata
from envwatch.monitoring.schema import measurements

factor_day_counts = Table(
    "factor_day_counts",
    metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("factor", String(32), primary_key=True),
    Column("day", Date, primary_key=True, comment="China calendar day (UTC+8)"),
    Column("received", SmallInteger, nullable=False, comment="hours with a record (device hour or minutes)"),
    Column("valid", SmallInteger, nullable=False, comment="hours valid by their flags (marks applied later)"),
    Column("received_on_time", SmallInteger, nullable=False, comment="the same, counting only on-time data"),
    Column("valid_on_time", SmallInteger, nullable=False),
    Column("computed_at", UtcDateTime, nullable=False),
    sqlite_with_rowid=False,
)

# How far the incremental refresh of a derived table got: the newest received_at it has taken in.
derived_watermarks = Table(
    "derived_watermarks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# What arrived since the last refresh, among the records the counts come from. Partial: real-time rows
# (most of the table and all of the ingest load) are not in it, so the gateway's writer never updates it.
ix_measurements_stats_received = Index(
    "ix_measurements_stats_received",
    measurements.c.received_at,
    sqlite_where=text("kind <> 'rtd'"),
    postgresql_where=text("kind <> 'rtd'"),
)
