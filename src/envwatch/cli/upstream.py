"""``envwatch upstream``: the platforms this one forwards to (数据转发, 市 → 省 → 部), and ``envwatch forward``.

- ``add NAME HOST:PORT [--region 3301]... [--enterprise ID]... [--no-acks] [--paused] [--since T]``: register
  an upstream; it gets packets received from ``--since`` on (default: from now on);
- ``set NAME [--address] [--region]... [--enterprise]... [--all-devices] [--acks/--no-acks]``, ``pause NAME``,
  ``resume NAME``: a new version of its settings (the old ones stay, ``history NAME`` lists them);
- ``list``, ``status`` (connected, cursor, lag in packets and seconds, counters, last error), each with
  ``--json``;
- ``envwatch forward``: the forwarders alone, for a production layout where gateways and writers run as
  separate processes (``serve`` runs them too; a lease keeps one sender per upstream).

docs/operations/upstream.md says what is forwarded and guaranteed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import typer

from envwatch.cli.common import (
    DataDir,
    Json,
    _logging,
    _prepare,
    _run,
    _settings,
    china_time,
    print_json,
    read_store,
    write_store,
)

upstream_app = typer.Typer(
    help="upstream platforms packets are forwarded to (数据转发 市 → 省 → 部)", no_args_is_help=True
)

Region = Annotated[
    list[str] | None,
    typer.Option("--region", help="行政区划代码 prefix of the devices' enterprises (repeat)"),
]
Enterprise = Annotated[list[int] | None, typer.Option("--enterprise", help="an enterprise id (repeat)")]
Note = Annotated[str, typer.Option("--note", help="why (kept with the change)")]
By = Annotated[str, typer.Option("--by", help="who makes the change (recorded)")]


def _show(config: Any) -> str:
    devices = (
        "all devices"
        if config.everything
        else (
            " ".join(
                [
                    *(f"region {p}*" for p in config.region_prefixes),
                    *(f"enterprise {e}" for e in config.enterprise_ids),
                ]
            )
        )
    )
    state = "enabled" if config.enabled else "PAUSED"
    acks = "9014 acks" if config.acks else "no acks"
    return f"{config.name}  {config.address}  {state}  {acks}  {devices}"


@upstream_app.command("add")
def add(
    name: str,
    address: Annotated[str, typer.Argument(help="HOST:PORT of the upstream's HJ 212 server")],
    region: Region = None,
    enterprise: Enterprise = None,
    acks: Annotated[
        bool, typer.Option("--acks/--no-acks", help="it answers 9014 when a packet's Flag asks")
    ] = True,
    paused: Annotated[bool, typer.Option("--paused", help="register without forwarding yet")] = False,
    since: Annotated[
        datetime | None, typer.Option(help="forward packets received from then on (China time); default: now")
    ] = None,
    note: Note = "",
    by: By = "cli",
    data_dir: DataDir = None,
) -> None:
    """Register an upstream platform."""
    from envwatch.core.clock import CHINA_TZ, utcnow
    from envwatch.ingest.upstream.config import add_upstream

    start = since.replace(tzinfo=CHINA_TZ) if since is not None and since.tzinfo is None else since
    config = write_store(
        data_dir,
        lambda conn, _s: add_upstream(
            conn,
            name=name,
            address=address,
            region_prefixes=region or [],
            enterprise_ids=enterprise or [],
            acks=acks,
            enabled=not paused,
            by=by,
            now=utcnow(),
            note=note,
            since=start,
        ),
    )
    typer.echo(f"added: {_show(config)}")


def _change(name: str, by: str, note: str, data_dir: Any, **changes: Any) -> None:
    from envwatch.core.clock import utcnow
    from envwatch.ingest.upstream.config import change_upstream

    config = write_store(
        data_dir, lambda conn, _s: change_upstream(conn, name, by=by, now=utcnow(), note=note, **changes)
    )
    typer.echo(f"now: {_show(config)}")


@upstream_app.command("set")
def set_(
    name: str,
    address: Annotated[str | None, typer.Option(help="new HOST:PORT")] = None,
    region: Region = None,
    enterprise: Enterprise = None,
    all_devices: Annotated[bool, typer.Option("--all-devices", help="forward every device again")] = False,
    acks: Annotated[bool | None, typer.Option("--acks/--no-acks")] = None,
    note: Note = "",
    by: By = "cli",
    data_dir: DataDir = None,
) -> None:
    """Change an upstream's settings (a new version; the forwarder picks it up within a poll)."""
    changes: dict[str, Any] = {}
    if address is not None:
        changes["address"] = address
    if all_devices:
        changes["region_prefixes"], changes["enterprise_ids"] = [], []
    if region is not None:
        changes["region_prefixes"] = region
    if enterprise is not None:
        changes["enterprise_ids"] = enterprise
    if acks is not None:
        changes["acks"] = acks
    _change(name, by, note, data_dir, **changes)


@upstream_app.command("pause")
def pause(name: str, note: Note = "", by: By = "cli", data_dir: DataDir = None) -> None:
    """Stop forwarding to an upstream; its cursor stays, so resume back-fills what it missed."""
    _change(name, by, note, data_dir, enabled=False)


@upstream_app.command("resume")
def resume(name: str, note: Note = "", by: By = "cli", data_dir: DataDir = None) -> None:
    """Forward again, from where it stopped."""
    _change(name, by, note, data_dir, enabled=True)


@upstream_app.command("list")
def list_(as_json: Json = False, data_dir: DataDir = None) -> None:
    """Every upstream with its current settings."""
    from envwatch.ingest.upstream.config import all_current

    configs = read_store(data_dir, all_current)
    if as_json:
        print_json([c.as_dict() for c in configs])
        return
    for config in configs:
        typer.echo(_show(config))
    if not configs:
        typer.echo("no upstream (envwatch upstream add NAME HOST:PORT)")


@upstream_app.command("history")
def history_(name: str, as_json: Json = False, data_dir: DataDir = None) -> None:
    """Every version of an upstream's settings, oldest first, with who changed it and why."""
    from envwatch.ingest.upstream.config import history

    versions = read_store(data_dir, lambda conn: history(conn, name))
    if as_json:
        print_json([v.as_dict() for v in versions])
        return
    for v in versions:
        typer.echo(f"{china_time(v.changed_at)}  {v.changed_by}  {_show(v)}  {v.note}")


@upstream_app.command("status")
def status_(as_json: Json = False, data_dir: DataDir = None) -> None:
    """Per upstream: connected, cursor, lag (packets, seconds), sent/acked/resent, last error."""
    from envwatch.core.clock import utcnow
    from envwatch.ingest.upstream.status import figures

    settings = _settings(data_dir)
    rows = read_store(data_dir, lambda conn: figures(conn, settings, utcnow()))
    if as_json:
        print_json(rows)
        return
    for r in rows:
        link = "connected" if r.get("connected") else ("down" if r.get("running") else "not running")
        typer.echo(
            f"{r['name']} {r['host']}:{r['port']} {'enabled' if r['enabled'] else 'PAUSED'} {link}: "
            f"cursor {r.get('cursor')}, lag {r.get('lag_packets')} packets / {r.get('lag_seconds', 0):.0f} s, "
            f"sent {r.get('sent')} acked {r.get('acked')} resent {r.get('resent')} forwarded {r.get('forwarded')}, "
            f"attempts {r.get('attempts')}"
            + (
                f", last error {china_time(r['last_error_at'])} {r['last_error']}"
                if r.get("last_error")
                else ""
            )
        )


def forward(data_dir: DataDir = None) -> None:
    """The upstream forwarders alone (beside separate gateway processes); ``serve`` runs them too."""
    _logging()
    settings = _settings(data_dir)

    async def loops() -> None:
        from envwatch.ingest.upstream.forwarder import upstream_loops

        engine = await asyncio.to_thread(_prepare, settings)
        await upstream_loops(engine, settings)

    _run(loops())
