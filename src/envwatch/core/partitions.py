"""Monthly partitions of the two big tables on PostgreSQL (分区): ``measurements`` by ``data_time`` and
``raw_packets`` by ``received_at``. SQLite has none of this (every function is a no-op there).

Theory of operation
-------------------
Migration 0015 makes both tables ``PARTITION BY RANGE`` with one partition per UTC month and a DEFAULT
partition, so that no insert ever fails for want of a partition (a device whose clock says 2099 lands in
the DEFAULT). Who creates the months ahead:

- pg_partman, when the DBA installed the extension in the database before the migration ran
  (``CREATE EXTENSION pg_partman SCHEMA partman``): the migration registers both tables with
  ``partman.create_parent`` and :func:`create_ahead` runs ``partman.run_maintenance`` on them;
- otherwise :func:`create_ahead` itself (plain declarative partitions), called by every ``serve`` /
  ``gateway`` / ``web`` process at start and then every ``partitions_every_s``, and by
  ``envwatch partitions create-ahead``.

Both name a month's partition ``<table>_pYYYY_MM`` (pg_partman 4's monthly suffix), but nothing here
relies on names: partitions and their bounds are read from the catalogue (``pg_inherits``,
``relpartbound``).

Invariants: a month's partition is only created when the DEFAULT holds no row of that month (PostgreSQL
would refuse it anyway; such rows stay in the DEFAULT, :func:`status` counts them). Retiring (:func:`retire`)
DETACHes a partition whose whole month is older than the retention: the table stays in the database with
every row (archive it with ``pg_dump -t``; dropping it is the DBA's decision), gets the append-only
trigger of its own again, and the detach is an evidence entry in the same transaction. Nothing here
deletes a row.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from envwatch.core.evidence import submit
from envwatch.core.settings import Settings

# partitioned table → its partition key (a UTC timestamp column)
KEYS: dict[str, str] = {"measurements": "data_time", "raw_packets": "received_at"}
EVIDENCE_KIND = "partition_detached"
_LOCK = 0x656E7670  # pg_advisory_xact_lock key: one partition maintainer at a time ("envp")
_ESTIMATE = "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:t)"
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


class PartitionError(Exception):
    """A partition operation refused, with the reason for the operator."""


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    start: datetime | None  # None: the DEFAULT partition
    end: datetime | None

    @property
    def is_default(self) -> bool:
        return self.start is None


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, month: datetime) -> str:
    return f"{table}_p{month:%Y_%m}"


def is_partitioned(conn: Connection, table: str) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    query = "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:t)"
    return conn.execute(text(query), {"t": table}).first() is not None


def partman_schema(conn: Connection) -> str | None:
    """The schema pg_partman is installed in, in this database (None: not installed)."""
    if conn.dialect.name != "postgresql":
        return None
    query = (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_partman'"
    )
    found = conn.execute(text(query)).scalar()
    return None if found is None else str(found)


def partman_managed(conn: Connection, table: str) -> bool:
    """Whether pg_partman maintains ``table`` (the extension is there and the table is registered)."""
    schema = partman_schema(conn)
    if schema is None:
        return False
    query = f"SELECT 1 FROM \"{schema}\".part_config WHERE parent_table = current_schema() || '.' || :t"
    return conn.execute(text(query), {"t": table}).first() is not None


def partitions(conn: Connection, table: str) -> list[Partition]:
    """The partitions attached to ``table``, oldest month first, the DEFAULT last."""
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t) AND c.relkind IN ('r', 'p')"
        ),
        {"t": table},
    ).all()
    out = []
    for name, bound in rows:
        found = _BOUNDS.search(bound)
        if found is None:  # FOR VALUES DEFAULT
            out.append(Partition(table, name, None, None))
        else:
            start, end = (datetime.fromisoformat(v).astimezone(UTC) for v in found.groups())
            out.append(Partition(table, name, start, end))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(out, key=lambda p: (p.start or far, p.name))


def _default_rows_in(conn: Connection, table: str, start: datetime, end: datetime) -> int:
    default = next((p for p in partitions(conn, table) if p.is_default), None)
    if default is None:
        return 0
    key = KEYS[table]
    return int(
        conn.execute(
            text(f'SELECT count(*) FROM "{default.name}" WHERE {key} >= :s AND {key} < :e'),
            {"s": start, "e": end},
        ).scalar_one()
    )


def create_month(conn: Connection, table: str, month: datetime) -> str | None:
    """The partition of ``month`` (created unless it exists); None when the DEFAULT holds rows of that
    month, which then stay there."""
    start, end = month_start(month), add_months(month_start(month), 1)
    for p in partitions(conn, table):
        if p.start is not None and p.end is not None and p.start < end and start < p.end:
            return p.name
    if _default_rows_in(conn, table, start, end):
        return None
    name = partition_name(table, start)
    conn.execute(
        text(f"CREATE TABLE \"{name}\" PARTITION OF {table} FOR VALUES FROM ('{start.isoformat()}') "
             f"TO ('{end.isoformat()}')")
    )  # fmt: skip
    return name


def create_ahead(conn: Connection, now: datetime, months_ahead: int) -> list[str]:
    """Make sure the current month and ``months_ahead`` more have partitions; returns the ones created
    (pg_partman's maintenance run instead where it manages the table). No-op on SQLite."""
    created: list[str] = []
    if conn.dialect.name != "postgresql":
        return created
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    for table in KEYS:
        if not is_partitioned(conn, table):
            continue
        before = {p.name for p in partitions(conn, table)}
        if partman_managed(conn, table):
            maintain = f"SELECT \"{partman_schema(conn)}\".run_maintenance(current_schema() || '.' || :t)"
            conn.execute(text(maintain), {"t": table})
        else:
            first = month_start(now)
            for n in range(months_ahead + 1):
                create_month(conn, table, add_months(first, n))
        created += sorted({p.name for p in partitions(conn, table)} - before)
    return created


@dataclass(frozen=True)
class PartitionStatus:
    partition: Partition
    rows: int | None  # the planner's estimate (exact for the DEFAULT); None before the first ANALYZE
    retirable: bool  # its whole month is older than the retention


def retention_cutoff(now: datetime, retention_months: int) -> datetime:
    """Months that end on or before this are past the retention (kept ``retention_months`` whole months
    back from the start of the current month)."""
    return add_months(month_start(now), -retention_months)


def status(conn: Connection, now: datetime, retention: dict[str, int]) -> list[PartitionStatus]:
    out: list[PartitionStatus] = []
    for table in KEYS:
        if not is_partitioned(conn, table):
            continue
        cutoff = retention_cutoff(now, retention[table])
        for p in partitions(conn, table):
            # counting a month of a province's packets takes minutes: the estimate, except for the DEFAULT,
            # which should hold (almost) nothing and is what the operator needs to know exactly
            query = f'SELECT count(*) FROM "{p.name}"' if p.is_default else _ESTIMATE
            found = conn.execute(text(query), {"t": p.name}).scalar_one()
            rows = None if found is None or found < 0 else int(found)
            out.append(PartitionStatus(p, rows, p.end is not None and p.end <= cutoff))
    return out


def retire(conn: Connection, name: str, now: datetime, retention: dict[str, int], by: str) -> dict[str, Any]:
    """DETACH the partition ``name`` (never drop, never delete) when its whole month is past the
    retention of its table; records an evidence entry and returns its payload. Raises PartitionError."""
    if conn.dialect.name != "postgresql":
        raise PartitionError("partitions exist on PostgreSQL only")
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    found = [p for table in KEYS if is_partitioned(conn, table) for p in partitions(conn, table)]
    partition = next((p for p in found if p.name == name), None)
    if partition is None:
        raise PartitionError(f"{name} is not a partition of {' or '.join(KEYS)}")
    if partition.is_default or partition.start is None or partition.end is None:
        raise PartitionError(f"{name} is the DEFAULT partition: it is never retired")
    months = retention[partition.table]
    cutoff = retention_cutoff(now, months)
    if partition.end > cutoff:
        raise PartitionError(
            f"{name} holds {partition.start:%Y-%m} ({partition.table}), within the retention of {months} "
            f"months: only months ending on or before {cutoff:%Y-%m-%d} (UTC) may be retired"
        )
    rows = int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
    payload: dict[str, Any] = {
        "table": partition.table,
        "partition": name,
        "from": partition.start,
        "to": partition.end,
        "rows": rows,
        "retention_months": months,
        "by": by,
    }
    if partition.table == "raw_packets":  # what evidence verify will no longer find in raw_packets
        low, high = conn.execute(text(f'SELECT min(id), max(id) FROM "{name}"')).one()
        payload["ids"] = [low, high]
    conn.execute(text(f'ALTER TABLE {partition.table} DETACH PARTITION "{name}"'))
    # the clone of the parent's append-only trigger left with the detach: the table stays evidence
    conn.execute(
        text(f'CREATE TRIGGER "{name}_append_only" BEFORE UPDATE OR DELETE ON "{name}" '
             "FOR EACH ROW EXECUTE FUNCTION envwatch_append_only()")
    )  # fmt: skip
    conn.execute(
        text(f"COMMENT ON TABLE \"{name}\" IS 'retired (detached) from {partition.table} on "
             f"{now:%Y-%m-%d} by envwatch partitions retire: archive with pg_dump -t'")
    )  # fmt: skip
    submit(conn, EVIDENCE_KIND, f"{partition.table}/{name}", payload, now)
    return payload


def detached(conn: Connection) -> list[str]:
    """Tables retired from the partitioned tables, still in the database (by the comment retire leaves)."""
    if conn.dialect.name != "postgresql":
        return []
    query = (
        "SELECT c.relname FROM pg_class c JOIN pg_description d ON d.objoid = c.oid AND d.objsubid = 0 "
        "WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace "
        "AND d.description LIKE 'retired (detached) from %' ORDER BY c.relname"
    )
    return [str(r) for r in conn.execute(text(query)).scalars()]


def keep_ahead_round(engine: Engine, months_ahead: int, now: datetime) -> list[str]:
    """One round of the serve/gateway/web loop: the months ahead, in a transaction of its own."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as conn:
        return create_ahead(conn, now, months_ahead)


async def keep_ahead_loop(engine: Engine, settings: Settings) -> None:
    """Every ``partitions_every_s``: the current month and ``partitions_months_ahead`` more."""
    from envwatch.core.clock import utcnow
    from envwatch.core.loops import every

    await every(
        settings.partitions_every_s,
        "partitions ahead",
        lambda: keep_ahead_round(engine, settings.partitions_months_ahead, utcnow()),
        logging.getLogger("envwatch.partitions"),
    )
