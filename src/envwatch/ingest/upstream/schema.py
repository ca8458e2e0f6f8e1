"""Upstream forwarding tables: the platforms packets are forwarded to, their settings' history, their state.

``upstreams`` names a platform once; ``upstream_versions`` holds every version of its settings (address,
which devices, acks, enabled), append-only like the registry: the newest row is the current one, so a
pause, a resume or a new address is a new row saying who changed it and why. ``upstream_status`` is
operational state updated in place (like ``device_status``): the forwarder's cursor into ``raw_packets``
(the log itself is the queue), its counters and the lease that keeps one forwarder per upstream.
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
    Text,
)

from envwatch.core.db import BigId, UtcDateTime, metadata

upstreams = Table(
    "upstreams",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True, comment="e.g. province, ministry"),
    Column("created_at", UtcDateTime, nullable=False),
)

upstream_versions = Table(
    "upstream_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("upstream_id", Integer, ForeignKey("upstreams.id"), nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column(
        "region_prefixes",
        JSON,
        nullable=False,
        comment="行政区划代码 prefixes of the enterprises whose devices are forwarded; with enterprise_ids "
        "empty too: every device",
    ),
    Column("enterprise_ids", JSON, nullable=False, comment="enterprises whose devices are forwarded"),
    Column("acks", Boolean, nullable=False, comment="the upstream answers 9014 to packets whose Flag asks"),
    Column("enabled", Boolean, nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("note", Text, nullable=False),
    Index("ix_upstream_versions_upstream", "upstream_id", "id"),
)

upstream_status = Table(
    "upstream_status",
    metadata,
    Column("upstream_id", Integer, ForeignKey("upstreams.id"), primary_key=True),
    Column("cursor", BigInteger, nullable=False, comment="every raw packet id up to this one is handled"),
    Column("connected", Boolean, nullable=False),
    Column("connected_since", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, comment="connection attempts failed in a row"),
    Column("sent", BigInteger, nullable=False, comment="frames written, resends included"),
    Column("acked", BigInteger, nullable=False, comment="9014 replies matched to a sent frame"),
    Column("resent", BigInteger, nullable=False, comment="frames written again after an ack timeout"),
    Column(
        "forwarded", BigInteger, nullable=False, comment="packets done: acknowledged, or written when no ack"
    ),
    Column("last_sent_at", UtcDateTime, nullable=True),
    Column("last_ack_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("owner", String(128), nullable=True, comment="the forwarder process holding the lease"),
    Column("lease_until", UtcDateTime, nullable=True),
)
