"""Derived tables of the monitoring context: rebuildable caches of what the measurements say, not evidence.

``factor_day_hours``: the effective transmission rate (有效传输率) counts hourly records per factor.
Counting them from the packet records means parsing every record's factors (13 M values a quarter for
1,000 devices: minutes), so the status of every factor-hour is kept as it arrives
(``monitoring.day_counts``): one row per device, factor and China day whose four 24-bit masks say which
hours were received, valid by their flags, and the same with on-time data only (bit h = hour h, China
time), and the number of hours each mask holds. A long period's rates are sums of those counts in SQL;
marks, which change after the data, are applied to the masks hour by hour on the days they touch. A refresh recomputes only the hours that received records, and rewrites
their bits in place; the evidence stays in ``measurements`` and the masks can be rebuilt from it.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Table, text

from envwatch.core.db import UtcDateTime, metadata
from envwatch.monitoring.schema import measurements

factor_day_hours = Table(
    "factor_day_hours",
    metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("factor", String(32), primary_key=True),
    Column("day", Date, primary_key=True, comment="China calendar day (UTC+8)"),
    Column(
        "received", Integer, nullable=False, comment="bit h: hour h has a record (device hour or minutes)"
    ),
    Column(
        "valid", Integer, nullable=False, comment="bit h: hour h is valid by its flags (marks apply later)"
    ),
    Column("received_on_time", Integer, nullable=False, comment="the same, counting only on-time data"),
    Column("valid_on_time", Integer, nullable=False),
    # the number of hours set in each mask: a long period's rates sum them in SQL (neither SQLite nor
    # PostgreSQL counts the bits of an integer); written with the masks, never apart from them
    *(
        Column(f"{mask}_hours", Integer, server_default="0", nullable=False, comment=f"hours set in {mask}")
        for mask in ("received", "valid", "received_on_time", "valid_on_time")
    ),
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
