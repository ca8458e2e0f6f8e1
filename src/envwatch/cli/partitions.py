"""``envwatch partitions``: the monthly partitions of measurements and raw_packets on PostgreSQL
(``core.partitions``; docs/operations/postgresql.md).

- ``status [--json]``: every partition with its month, rows, and whether it is past the retention; the
  tables retired earlier and still in the database;
- ``create-ahead [--months N]``: the current month and N more (default ``partitions_months_ahead``);
- ``retire NAME... | --expired [--by WHO]``: DETACH partitions whose whole month is past the retention
  (never drops a table, never deletes a row); each detach is an evidence entry. Refuses a younger
  partition, the DEFAULT, or anything on SQLite, with exit code 2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, Json, _fail, _prepare, _settings, print_json
from envwatch.core.settings import Settings

partitions_app = typer.Typer(
    help="PostgreSQL monthly partitions (分区) of measurements and raw_packets: status, create, retire",
    no_args_is_help=True,
)


def retention(settings: Settings) -> dict[str, int]:
    return {
        "measurements": settings.retention_measurements_months,
        "raw_packets": settings.retention_raw_packets_months,
    }


@contextlib.contextmanager
def _postgres(settings: Settings) -> Iterator[Any]:
    """The migrated store's engine, disposed afterwards; a clean failure on SQLite."""
    engine = _prepare(settings)
    try:
        if engine.dialect.name != "postgresql":
            _fail("partitions exist on PostgreSQL only (ENVWATCH_DATABASE_URL): the embedded store has none")
        yield engine
    finally:
        engine.dispose()


@partitions_app.command("status")
def status_command(as_json: Json = False, data_dir: DataDir = None) -> None:
    """Partitions, their rows, which are past the retention; retired tables still in the database."""
    from envwatch.core.clock import utcnow
    from envwatch.core.partitions import detached, partman_managed, status

    settings = _settings(data_dir)
    with _postgres(settings) as engine, engine.connect() as conn:
        rows = status(conn, utcnow(), retention(settings))
        managers = {t: "pg_partman" if partman_managed(conn, t) else "envwatch" for t in retention(settings)}
        retired = detached(conn)
    if as_json:
        print_json(
            {
                "managed_by": managers,
                "partitions": [
                    {"table": s.partition.table, "name": s.partition.name, "from": s.partition.start,
                     "to": s.partition.end, "rows": s.rows, "retirable": s.retirable}
                    for s in rows
                ],
                "retired": retired,
            }
        )  # fmt: skip
        return
    for table, manager in managers.items():
        typer.echo(f"{table}: partitions created by {manager}")
    for s in rows:
        p = s.partition
        month = "DEFAULT" if p.start is None else f"{p.start:%Y-%m}"
        mark = "  past retention: may be retired" if s.retirable else ""
        count = (
            "? rows (not analysed yet)" if s.rows is None else f"{'' if p.is_default else '≈'}{s.rows} rows"
        )
        typer.echo(f"{p.table}\t{p.name}\t{month}\t{count}{mark}")
    for name in retired:
        typer.echo(f"retired (detached, archive with pg_dump -t): {name}")


@partitions_app.command("create-ahead")
def create_ahead_command(
    months: Annotated[
        int | None, typer.Option("--months", min=0, help="months after the current one")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create the current month's partitions and the months ahead (pg_partman's maintenance where it runs
    them)."""
    from envwatch.core.clock import utcnow
    from envwatch.core.partitions import create_ahead

    settings = _settings(data_dir)
    with _postgres(settings) as engine, engine.begin() as conn:
        created = create_ahead(conn, utcnow(), settings.partitions_months_ahead if months is None else months)
    typer.echo(f"created: {', '.join(created)}" if created else "nothing to create: the months ahead exist")


@partitions_app.command("retire")
def retire_command(
    names: Annotated[list[str] | None, typer.Argument(help="partition names (see status)")] = None,
    expired: Annotated[bool, typer.Option("--expired", help="every partition past the retention")] = False,
    by: Annotated[str, typer.Option("--by", help="who retires them (in the evidence entry)")] = "cli",
    data_dir: DataDir = None,
) -> None:
    """DETACH partitions past the retention, keeping their tables (and every row) for archiving."""
    from envwatch.core.clock import utcnow
    from envwatch.core.partitions import PartitionError, retire, status

    settings = _settings(data_dir)
    now, kept = utcnow(), retention(settings)
    wanted = list(names or [])
    with _postgres(settings) as engine:
        if expired:
            with engine.connect() as conn:
                wanted += [s.partition.name for s in status(conn, now, kept) if s.retirable]
        if not wanted:
            _fail("nothing to retire: name partitions or pass --expired (none is past the retention)")
        try:
            with engine.begin() as conn:  # all or none
                done = [retire(conn, name, now, kept, by) for name in wanted]
        except PartitionError as exc:
            _fail(f"{exc}; nothing was detached")
            return
    for payload in done:
        typer.echo(
            f"detached {payload['partition']} ({payload['rows']} rows of {payload['table']}, "
            f"{payload['from']:%Y-%m}): archive it with pg_dump -t {payload['partition']}"
        )
