"""partitions: measurements and raw_packets partitioned by month on PostgreSQL (issue 10)

Converts the two tables in place, in the migration's one transaction, without losing a row: the old table
is renamed, the partitioned one created with the same columns, constraints, indexes and append-only
trigger, every row copied, the counts compared, and the old table dropped only once they agree (a
mismatch raises and the whole transaction rolls back). A fresh database takes the same path with
nothing to copy. Partitions: pg_partman's when the DBA installed the extension in this database before
upgrading, else plain declarative ones (one per UTC month holding data, the current month and
MONTHS_AHEAD more, and a DEFAULT). SQLite is left as it is.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# copied, not imported: a migration must not change when the schema modules do
MONTHS_AHEAD = 3
OLDEST = datetime(2000, 1, 1, tzinfo=UTC)  # months before this (a device clock at 1970) go to DEFAULT
TABLES: dict[str, dict[str, Any]] = {
    "raw_packets": {
        "key": "received_at",
        "pk": "id, received_at",  # the partition key must be in every unique key
        "old_pk": "id",
        "fks": [],
        "indexes": {
            "ix_raw_packets_mn_time": "(mn, received_at)",
            "ix_raw_packets_time": "(received_at)",
            "ix_raw_packets_verdict_time": "(verdict, received_at)",
        },
    },
    "measurements": {
        "key": "data_time",
        "pk": "device_id, kind, data_time, part",
        "old_pk": "device_id, kind, data_time, part",
        "fks": [("fk_measurements_device_id_devices", "FOREIGN KEY (device_id) REFERENCES devices (id)")],
        "indexes": {"ix_measurements_stats_received": "(received_at) WHERE kind <> 'rtd'"},
    },
}


def _month(moment: datetime, n: int = 0) -> datetime:
    moment = moment.astimezone(UTC)
    index = moment.year * 12 + moment.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _partman_schema() -> str | None:
    return (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'pg_partman'"
            )
        )
        .scalar()
    )


def _set_aside(table: str, spec: dict[str, Any], suffix: str) -> str:
    """Rename ``table`` and the objects whose names the new table needs (index names are per schema)."""
    old = f"{table}_{suffix}"
    op.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
    for index in spec["indexes"]:
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_{suffix}")
    return old


def _dress(table: str, spec: dict[str, Any], pk: str) -> None:
    """Primary key, foreign keys, indexes and the append-only trigger of the new ``table``."""
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({pk})")
    for name, definition in spec["fks"]:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for index, definition in spec["indexes"].items():
        op.execute(f"CREATE INDEX {index} ON {table} {definition}")
    # the function exists since 0001; a row trigger on a partitioned table is cloned onto every partition
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION envwatch_append_only()"
    )


def _copy_verified(source: str, target: str) -> None:
    bind = op.get_bind()
    copied = bind.execute(sa.text(f"INSERT INTO {target} SELECT * FROM {source}")).rowcount
    before = bind.execute(sa.text(f"SELECT count(*) FROM {source}")).scalar_one()
    after = bind.execute(sa.text(f"SELECT count(*) FROM {target}")).scalar_one()
    if not before == after == copied:
        raise RuntimeError(
            f"{target}: {before} rows before, {copied} copied, {after} after: nothing changed (rolled back)"
        )
    op.execute(f"DROP TABLE {source}")


def _months_with_data(table: str, key: str) -> list[datetime]:
    now = datetime.now(UTC)
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT DISTINCT date_trunc('month', {key} AT TIME ZONE 'UTC') FROM {table} "
                f"WHERE {key} >= :oldest AND {key} < :horizon"
            ),
            {"oldest": OLDEST, "horizon": _month(now, MONTHS_AHEAD + 1)},
        )
        .scalars()
    )
    months = {_month(m.replace(tzinfo=UTC)) for m in rows}
    months.update(_month(now, n) for n in range(MONTHS_AHEAD + 1))
    return sorted(months)


def _declarative_partitions(table: str, months: list[datetime]) -> None:
    for month in months:
        op.execute(
            f"CREATE TABLE {table}_p{month:%Y_%m} PARTITION OF {table} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_month(month, 1).isoformat()}')"
        )
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")


def _partman_partitions(table: str, key: str, months: list[datetime], schema: str) -> None:
    # pg_partman 4.x: native monthly partitions from the oldest month with data, MONTHS_AHEAD premade,
    # a DEFAULT; no retention of its own (envwatch partitions retire detaches, with an evidence entry)
    op.get_bind().execute(
        sa.text(
            f"SELECT {schema}.create_parent(current_schema() || '.' || :t, :key, 'native', 'monthly', "
            "p_premake := :ahead, p_start_partition := :start)"
        ),
        {"t": table, "key": key, "ahead": MONTHS_AHEAD, "start": months[0].strftime("%Y-%m-%d")},
    )
    op.get_bind().execute(
        sa.text(
            f"UPDATE {schema}.part_config SET infinite_time_partitions = true, retention = NULL "
            "WHERE parent_table = current_schema() || '.' || :t"
        ),
        {"t": table},
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    partman = _partman_schema()
    for table, spec in TABLES.items():
        old = _set_aside(table, spec, "unpartitioned")
        months = _months_with_data(old, spec["key"])
        op.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING COMMENTS INCLUDING STORAGE) "
            f"PARTITION BY RANGE ({spec['key']})"
        )
        _dress(table, spec, spec["pk"])
        if partman is None:
            _declarative_partitions(table, months)
        else:
            _partman_partitions(table, spec["key"], months, partman)
        _copy_verified(old, table)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    partman = _partman_schema()
    for table, spec in TABLES.items():
        old = _set_aside(table, spec, "partitioned")
        op.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING COMMENTS INCLUDING STORAGE)"
        )
        _dress(table, spec, spec["old_pk"])
        if partman is not None:
            op.get_bind().execute(
                sa.text(
                    f"DELETE FROM {partman}.part_config WHERE parent_table = current_schema() || '.' || :t"
                ),
                {"t": table},
            )
            op.execute(f"DROP TABLE IF EXISTS {partman}.template_{_schema()}_{table}")
        # the partitions go with the parent (detached ones stay: they are no longer partitions)
        _copy_verified(old, table)


def _schema() -> str:
    return str(op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one())
