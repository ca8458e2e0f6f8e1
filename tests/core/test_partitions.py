"""Monthly partitions of measurements and raw_packets on the real PostgreSQL (migration 0015,
core.partitions, ``envwatch partitions``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.partitions import (
    PartitionError,
    add_months,
    create_ahead,
    create_month,
    is_partitioned,
    keep_ahead_round,
    month_start,
    partitions,
    partman_managed,
    retire,
    status,
)
from envwatch.evidence.sources import recheck
from envwatch.ingest.raw_evidence import KIND as RAW_BATCH
from envwatch.ingest.raw_evidence import batch_digest, batch_ref, packet_hash
from envwatch.migrations import alembic_config, current_revision, upgrade
from tests.helpers import GAS_MN, register_demo_devices

RETENTION = {"measurements": 60, "raw_packets": 60}
NOW = datetime.now(UTC)  # the migration made its months from the real clock, so do the tests
OLD = datetime(2015, 3, 10, 8, 0, tzinfo=UTC)  # far past any 60-month retention


def raw(conn: Connection, packet_id: int, at: datetime) -> None:
    conn.execute(
        text(
            "INSERT INTO raw_packets (id, received_at, peer, mn, cn, verdict, raw) "
            "VALUES (:id, :at, '127.0.0.1:1', :mn, '2011', 'ok', :raw)"
        ),
        {"id": packet_id, "at": at, "mn": GAS_MN, "raw": f"##frame {packet_id}".encode()},
    )


def measurement(conn: Connection, device: int, at: datetime, packet_id: int) -> None:
    conn.execute(
        text(
            "INSERT INTO measurements (device_id, kind, data_time, part, factors, packet_id, backfill, "
            "received_at) VALUES (:d, 'hour', :at, 0, :f, :p, false, :at)"
        ),
        {"d": device, "at": at, "f": json.dumps({"a21026": {"Avg": str(packet_id)}}), "p": packet_id},
    )


def home(conn: Connection, table: str, key: str, at: datetime) -> str:
    """The partition that holds the row of ``table`` whose key column is ``at``."""
    query = f"SELECT tableoid::regclass::text FROM {table} WHERE {key} = :at"
    return str(conn.execute(text(query), {"at": at}).scalar_one())


def test_both_tables_are_partitioned_by_month_with_a_default(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        for table in ("measurements", "raw_packets"):
            assert is_partitioned(conn, table)
            assert not partman_managed(conn, table)
            found = partitions(conn, table)
            months = [p.start for p in found if p.start is not None]
            assert [add_months(month_start(NOW), n) for n in range(4)] == months[-4:]
            assert found[-1].is_default and found[-1].name == f"{table}_default"
            for p in found:  # every partition carries the parent's append-only trigger
                triggers = conn.execute(
                    text(
                        "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND NOT tgisinternal"
                    ),
                    {"t": p.name},
                ).scalars()
                assert f"{table}_append_only" in set(triggers)


def test_rows_land_in_their_month_and_far_ones_in_the_default(pg_engine: Engine) -> None:
    device = register_demo_devices(pg_engine)[GAS_MN]
    future, past = datetime(2099, 5, 1, tzinfo=UTC), datetime(1970, 1, 2, tzinfo=UTC)
    with pg_engine.begin() as conn:
        for n, at in enumerate((NOW, future, past), start=1):
            raw(conn, n, at)
            measurement(conn, device, at, n)
        assert home(conn, "raw_packets", "received_at", NOW) == f"raw_packets_p{NOW:%Y_%m}"
        assert home(conn, "measurements", "data_time", NOW) == f"measurements_p{NOW:%Y_%m}"
        for at in (future, past):
            assert home(conn, "raw_packets", "received_at", at) == "raw_packets_default"
            assert home(conn, "measurements", "data_time", at) == "measurements_default"
    # a partition is not created over rows the DEFAULT holds (they stay there); others are
    with pg_engine.begin() as conn:
        assert create_month(conn, "raw_packets", future) is None
        assert create_month(conn, "raw_packets", datetime(2099, 4, 1, tzinfo=UTC)) == "raw_packets_p2099_04"
        assert home(conn, "raw_packets", "received_at", future) == "raw_packets_default"


def test_append_only_is_enforced_on_a_partition(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        raw(conn, 1, NOW)
    month = f"raw_packets_p{NOW:%Y_%m}"
    for statement in (f"UPDATE {month} SET verdict = 'x'", f"DELETE FROM {month}", "DELETE FROM raw_packets"):
        with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as conn:
            conn.execute(text(statement))


def test_create_ahead_makes_the_missing_months_once(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        created = create_ahead(conn, NOW, 5)
        assert created == sorted(
            f"{t}_p{add_months(month_start(NOW), n):%Y_%m}"
            for t in ("measurements", "raw_packets")
            for n in (4, 5)
        )
        assert create_ahead(conn, NOW, 5) == []
    assert keep_ahead_round(pg_engine, 5, NOW) == []


def test_partition_pruning_reads_one_month(pg_engine: Engine) -> None:
    start = month_start(NOW) + timedelta(days=2)
    with pg_engine.connect() as conn:
        for query in (
            "SELECT * FROM measurements WHERE device_id = 1 AND kind = 'hour' AND data_time >= :s AND data_time < :e",
            "SELECT * FROM raw_packets WHERE mn = 'x' AND received_at >= :s AND received_at < :e ORDER BY id DESC",
        ):
            plan = "\n".join(
                conn.execute(text(f"EXPLAIN {query}"), {"s": start, "e": start + timedelta(days=1)}).scalars()
            )
            table = query.split()[3]
            assert f"{table}_p{NOW:%Y_%m}" in plan
            assert f"{table}_default" not in plan and f"{table}_p{add_months(NOW, 1):%Y_%m}" not in plan


def test_retire_refuses_young_partitions_and_detaches_old_ones(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        old = create_month(conn, "raw_packets", OLD)
        raw(conn, 7, OLD)
        raw(conn, 8, OLD + timedelta(days=1))
    assert old == "raw_packets_p2015_03"
    young = f"raw_packets_p{NOW:%Y_%m}"
    cutoff = add_months(month_start(NOW), -60)
    last_young = f"raw_packets_p{cutoff:%Y_%m}"  # the oldest month still within the retention
    with pg_engine.begin() as conn:
        assert create_month(conn, "raw_packets", cutoff) == last_young
    for name, message in (
        (young, "within the retention of 60 months"),
        (last_young, "within the retention of 60 months"),
        ("raw_packets_default", "is the DEFAULT partition"),
        ("devices", "is not a partition"),
    ):
        with pytest.raises(PartitionError, match=message), pg_engine.begin() as conn:
            retire(conn, name, NOW, RETENTION, "test")
    with pg_engine.begin() as conn:
        payload = retire(conn, old, NOW, RETENTION, "test")
    assert payload["rows"] == 2 and payload["ids"] == [7, 8]
    with pg_engine.connect() as conn:
        assert old not in {p.name for p in partitions(conn, "raw_packets")}
        assert conn.execute(text(f"SELECT count(*) FROM {old}")).scalar_one() == 2  # kept, every row
        assert conn.execute(text("SELECT count(*) FROM raw_packets WHERE id IN (7, 8)")).scalar_one() == 0
        kind, ref, body = conn.execute(
            text("SELECT kind, ref, body FROM evidence_entries ORDER BY id DESC LIMIT 1")
        ).one()
    assert (kind, ref) == ("partition_detached", f"raw_packets/{old}")
    assert json.loads(body)["payload"]["from"] == "2015-03-01T00:00:00.000000Z"
    # evidence verify still finds the retired packets (in their detached table) and their bytes
    frames = [(7, packet_hash(b"##frame 7")), (8, packet_hash(b"##frame 8"))]
    logged = {"ids": [[7, 8]], "count": 2, "sha256": batch_digest(frames)}
    with pg_engine.connect() as conn:
        assert recheck(conn, RAW_BATCH, batch_ref([(7, 8)]), logged) == []
        assert recheck(conn, RAW_BATCH, batch_ref([(7, 9)]), {**logged, "ids": [[7, 9]], "count": 3}) == [
            "raw_packets/7-9: 1 of 3 packets missing: raw_packets/9"
        ]
    for statement in (f"UPDATE {old} SET verdict = 'x'", f"DELETE FROM {old}"):  # still evidence
        with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as conn:
            conn.execute(text(statement))


def test_the_cli_shows_and_retires(pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVWATCH_DATABASE_URL", pg_engine.url.render_as_string(hide_password=False))
    with pg_engine.begin() as conn:
        create_month(conn, "measurements", OLD)
    runner = CliRunner()
    shown = runner.invoke(app, ["partitions", "status"])
    assert shown.exit_code == 0, shown.output
    assert (
        "measurements_p2015_03\t2015-03\t? rows (not analysed yet)  past retention: may be retired"
        in shown.output
    )
    assert "measurements_default\tDEFAULT\t0 rows\n" in shown.output
    refused = runner.invoke(app, ["partitions", "retire", f"raw_packets_p{NOW:%Y_%m}"])
    assert refused.exit_code == 2 and "nothing was detached" in refused.output
    done = runner.invoke(app, ["partitions", "retire", "--expired", "--by", "dba"])
    assert done.exit_code == 0, done.output
    assert "detached measurements_p2015_03" in done.output and "pg_dump -t" in done.output
    with pg_engine.connect() as conn:
        assert [s.partition.name for s in status(conn, NOW, RETENTION) if s.retirable] == []


# ---- 0015 converts a populated 0014 database without losing a row ----


def _contents(conn: Connection) -> dict[str, list[Any]]:
    return {
        "raw_packets": conn.execute(text("SELECT * FROM raw_packets ORDER BY id")).all(),
        "measurements": conn.execute(
            text("SELECT * FROM measurements ORDER BY device_id, kind, data_time, part")
        ).all(),
    }


def test_0015_converts_a_populated_database_and_back(pg_engine: Engine) -> None:
    config = alembic_config(pg_engine)
    command.downgrade(config, "0014")
    with pg_engine.connect() as conn:
        assert not is_partitioned(conn, "raw_packets")
    device = register_demo_devices(pg_engine)[GAS_MN]
    moments = [
        OLD,
        OLD + timedelta(days=40),
        NOW,
        datetime(2099, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    ]
    moments += [NOW - timedelta(hours=n) for n in range(1, 200)]
    with pg_engine.begin() as conn:
        for n, at in enumerate(moments, start=1):
            raw(conn, n, at)
            measurement(conn, device, at, n)
        before = _contents(conn)
    upgrade(pg_engine, "0015")
    assert current_revision(pg_engine) == "0015"
    with pg_engine.connect() as conn:
        assert _contents(conn) == before
        names = {p.name for p in partitions(conn, "measurements")}
        assert {"measurements_p2015_03", "measurements_p2015_04", f"measurements_p{NOW:%Y_%m}"} <= names
        assert home(conn, "measurements", "data_time", moments[3]) == "measurements_default"
        assert home(conn, "raw_packets", "received_at", moments[4]) == "raw_packets_default"
        leftovers = conn.execute(text("SELECT to_regclass('raw_packets_unpartitioned')")).scalar()
        assert leftovers is None
    with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as conn:
        conn.execute(text("DELETE FROM measurements"))
    command.downgrade(config, "0014")
    with pg_engine.connect() as conn:
        assert not is_partitioned(conn, "measurements") and _contents(conn) == before
    with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as conn:
        conn.execute(text("DELETE FROM raw_packets"))
    upgrade(pg_engine)


# ---- pg_partman, where the server has it ----


@pytest.fixture
def partman_engine(pg_engine: Engine) -> Engine:
    """A database where the DBA installed pg_partman before the first migration."""
    with pg_engine.connect() as conn:
        available = conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman'")
        ).first()
    if available is None:
        pytest.skip("pg_partman is not installed on this PostgreSQL server (Debian: postgresql-15-partman)")
    command.downgrade(alembic_config(pg_engine), "0014")
    with pg_engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA partman"))
        conn.execute(text("CREATE EXTENSION pg_partman SCHEMA partman"))
    upgrade(pg_engine)
    return pg_engine


def test_pg_partman_creates_and_maintains_the_months(partman_engine: Engine) -> None:
    with partman_engine.begin() as conn:
        for table in ("measurements", "raw_packets"):
            assert partman_managed(conn, table)
            found = partitions(conn, table)
            assert f"{table}_p{NOW:%Y_%m}" in {p.name for p in found} and found[-1].is_default
        raw(conn, 1, NOW)
        assert home(conn, "raw_packets", "received_at", NOW) == f"raw_packets_p{NOW:%Y_%m}"
        create_ahead(conn, NOW, 3)  # pg_partman's run_maintenance: nothing missing, nothing broken
    with pytest.raises(DBAPIError, match="append-only"), partman_engine.begin() as conn:
        conn.execute(text(f"UPDATE raw_packets_p{NOW:%Y_%m} SET verdict = 'x'"))
