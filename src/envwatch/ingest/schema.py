"""Ingest tables: the raw packet log, device connection status, downlink commands.

``raw_packets`` keeps every frame received, valid or not, with its verdict: it is evidence and is only
ever appended to. ``device_status`` is operational state (online, last seen) and is updated in place.
Commands are rows plus an append-only list of what happened to them.
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
    LargeBinary,
    String,
    Table,
    Text,
)

from envwatch.core.db import BigId, UtcDateTime, metadata

raw_packets = Table(
    "raw_packets",
    metadata,
    # ids are handed out by the single writer (see ingest.writer.IdAllocator), so that measurements and
    # conflicts can point at the packet in the same transaction.
    Column("id", BigId, primary_key=True, autoincrement=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("peer", Text, nullable=False, comment="ip:port of the connection"),
    Column("device_id", Integer, nullable=True, comment="null when the MN is unknown or unreadable"),
    Column("mn", Text, nullable=True, comment="as read from the header, whatever its length"),
    Column("cn", Text, nullable=True),
    Column("qn", Text, nullable=True),
    Column(
        "verdict",
        String(24),
        nullable=False,
        comment="ok | duplicate | conflict | bad_crc | unknown_mn | ...",
    ),
    Column("reason", Text, nullable=True),
    Column("raw", LargeBinary, nullable=False, comment="the frame exactly as received"),
    Index("ix_raw_packets_mn_time", "mn", "received_at"),
    Index("ix_raw_packets_time", "received_at"),
    Index("ix_raw_packets_verdict_time", "verdict", "received_at"),
)

device_status = Table(
    "device_status",
    metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("online", Boolean, nullable=False),
    Column("last_seen", UtcDateTime, nullable=True, comment="last packet received"),
    Column("last_peer", String(64), nullable=True),
    Column("changed_at", UtcDateTime, nullable=False, comment="when online last flipped"),
    Column(
        "alert_after",
        UtcDateTime,
        nullable=True,
        comment="silent from then on if nothing newer arrives: last_seen + offline grace (alarms.offline)",
    ),
    Column("silent_since", UtcDateTime, nullable=True, comment="the offline watcher found it silent then"),
    Index("ix_device_status_alert_after", "alert_after"),
)

commands = Table(
    "commands",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("cn", String(8), nullable=False),
    Column("qn", String(24), nullable=False, unique=True),
    Column("params", JSON, nullable=False, comment="CP keys sent, e.g. {BeginTime, EndTime}"),
    Column("requested_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_commands_device", "device_id", "id"),
    Index("ix_commands_created", "created_at"),
)

# What happened to a command, in order: queued, sent, retry, qn_rtn, data, exe_rtn, timeout, done, failed.
command_events = Table(
    "command_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("command_id", BigInteger, ForeignKey("commands.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("event", String(16), nullable=False),
    Column("final", Boolean, nullable=False, default=False),
    Column("detail", JSON, nullable=False),
    Column("packet_id", BigInteger, nullable=True),
    Index("ix_command_events_command", "command_id", "id"),
)
