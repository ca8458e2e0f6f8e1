"""``envwatch`` command line (Typer)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from envwatch.cli import backup
from envwatch.cli.common import DataDir, _fail, _logging, _prepare, _run, _settings
from envwatch.cli.compliance import compliance_app
from envwatch.cli.evidence import evidence_app
from envwatch.cli.export import export_app
from envwatch.cli.labels import labels_app
from envwatch.cli.om import om_app
from envwatch.cli.partitions import partitions_app
from envwatch.cli.reports import reports_app
from envwatch.cli.sampling import sampling_app
from envwatch.cli.settings_cmd import settings_app
from envwatch.cli.upstream import forward, upstream_app
from envwatch.cli.worker import worker
from envwatch.core.settings import Settings

app = typer.Typer(help="envwatch: pollution-source automatic monitoring platform", no_args_is_help=True)
devices_app = typer.Typer(help="the registry of data loggers (数采仪)", no_args_is_help=True)
hj212_app = typer.Typer(help="HJ 212 protocol tools", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
app.add_typer(hj212_app, name="hj212")
registry_app = typer.Typer(
    help="import/export of the whole registry (登记信息) as an xlsx workbook or a directory of csv files",
    no_args_is_help=True,
)
app.add_typer(registry_app, name="registry")
users_app = typer.Typer(
    help="user accounts (roles and scopes); the admin token needs none", no_args_is_help=True
)
app.add_typer(users_app, name="users")
alarms_app = typer.Typer(help="alarms (报警): list them, run the alarm loops alone", no_args_is_help=True)
app.add_typer(alarms_app, name="alarms")
app.add_typer(om_app, name="om")
app.add_typer(sampling_app, name="sampling")
app.add_typer(labels_app, name="labels")
app.add_typer(evidence_app, name="evidence")
app.add_typer(compliance_app, name="compliance")
app.add_typer(reports_app, name="reports")
app.add_typer(upstream_app, name="upstream")
app.command("forward")(forward)
app.add_typer(settings_app, name="settings")
backup.register(app)  # envwatch backup / restore
app.add_typer(export_app, name="export")
app.add_typer(partitions_app, name="partitions")


@app.command()
def init(data_dir: DataDir = None) -> None:
    """Create or upgrade the store and print the admin API token."""
    from envwatch.web.auth import admin_token

    settings = _settings(data_dir)
    _prepare(settings)
    typer.echo(f"store ready: {settings.resolved_database_url()}")
    typer.echo(f"admin API token: {admin_token(settings)}")


# --- devices -------------------------------------------------------------------------------------
@devices_app.command("import")
def devices_import(
    file: Annotated[Path, typer.Argument(help="CSV: mn,pw,name,enterprise,outlet,kind,protocol,sm4_key")],
    data_dir: DataDir = None,
) -> None:
    """Register (or update) data loggers from a CSV file; all rows or none."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import InvalidInput
    from envwatch.registry.store import import_devices_file

    engine = _prepare(_settings(data_dir))
    try:
        result = import_devices_file(engine, file, utcnow())
    except InvalidInput as exc:
        _fail(exc.message)
        return
    typer.echo(
        f"devices: {result.created} created, {result.updated} updated, {result.unchanged} unchanged; "
        f"{result.keys_added} SM4 keys added"
    )


@devices_app.command("list")
def devices_list(data_dir: DataDir = None) -> None:
    """Registered devices with online status."""
    from envwatch.ingest.queries import read_devices

    for row in read_devices(_prepare(_settings(data_dir))):
        state = "online" if row["online"] else "offline"
        typer.echo(
            f"{row['mn']}\t{row['kind']}\t{row['protocol']}\t{state}\t{row['last_seen'] or '-'}\t{row['name']}"
        )


# --- users ---------------------------------------------------------------------------------------
@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="login name (stored in lower case)")],
    role: Annotated[
        str,
        typer.Option("--role", help="admin, regulator, enterprise, operator, field_staff, agency, auditor"),
    ],
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    region_code: Annotated[str | None, typer.Option("--region-code", help="regulator: 2/4/6 digits")] = None,
    enterprise_id: Annotated[int | None, typer.Option("--enterprise-id", help="enterprise")] = None,
    operator_id: Annotated[
        int | None, typer.Option("--operator-id", help="operator, field_staff, auditor")
    ] = None,
    agency_id: Annotated[int | None, typer.Option("--agency-id", help="agency")] = None,
    period_from: Annotated[str | None, typer.Option("--period-from", help="auditor: YYYY-MM-DD")] = None,
    period_to: Annotated[
        str | None, typer.Option("--period-to", help="auditor: YYYY-MM-DD, inclusive")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Create a user with a role and its scope (the password is never an argument: it would sit in the
    shell history and the process list)."""
    from datetime import date

    from envwatch.core.clock import utcnow
    from envwatch.core.errors import EnvwatchError
    from envwatch.web.accounts.store import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        dates = {
            k: date.fromisoformat(v) if v else None
            for k, v in (("period_from", period_from), ("period_to", period_to))
        }
    except ValueError as exc:
        _fail(f"period: {exc} (use YYYY-MM-DD)")
        return
    settings = _settings(data_dir)
    engine = _prepare(settings)
    fields = {
        "role": role,
        "display_name": display_name,
        "region_code": region_code,
        "enterprise_id": enterprise_id,
        "operator_id": operator_id,
        "agency_id": agency_id,
        **dates,
    }
    try:
        with engine.begin() as conn:
            user = create_user(
                conn, username, password, fields, utcnow(), min_password_length=settings.password_min_length
            )
    except EnvwatchError as exc:
        _fail(exc.message)
        return
    typer.echo(f"user {user['username']} created (id {user['id']}, role {user['role']})")


@users_app.command("list")
def users_list(data_dir: DataDir = None) -> None:
    """Users with role, scope and whether they are active."""
    from envwatch.web.accounts.store import SCOPE_FIELDS, list_users

    engine = _prepare(_settings(data_dir))
    with engine.connect() as conn:
        for user in list_users(conn):
            scope = " ".join(f"{k}={user[k]}" for k in SCOPE_FIELDS if user[k] is not None) or "-"
            state = "active" if user["active"] else "inactive"
            typer.echo(
                f"{user['id']}\t{user['username']}\t{user['role']}\t{scope}\t{state}\t{user['display_name']}"
            )


# --- registry ------------------------------------------------------------------------------------
@registry_app.command("import")
def registry_import(
    file: Annotated[
        Path, typer.Argument(help="FILE.xlsx, a directory of <sheet>.csv files, or one <sheet>.csv")
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and count, write nothing")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create or update the registry from a workbook; every row of every sheet or none."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import InvalidInput
    from envwatch.registry.transfer import import_registry

    engine = _prepare(_settings(data_dir))
    try:
        report = import_registry(engine, file, utcnow(), dry_run=dry_run, progress=typer.echo)
    except InvalidInput as exc:
        _fail(exc.message)
        return
    if dry_run:
        typer.echo("dry run: nothing written; the import would do:")
    for line in report.lines():
        typer.echo(line)


@registry_app.command("export")
def registry_export(
    target: Annotated[Path, typer.Argument(help="FILE.xlsx, or a directory for one csv per sheet")],
    template: Annotated[bool, typer.Option("--template", help="only the headers and the 说明 sheet")] = False,
    data_dir: DataDir = None,
) -> None:
    """Write the whole registry (emission limits with their full history) or the empty template."""
    from envwatch.core.errors import InvalidInput
    from envwatch.registry.transfer import export_registry

    engine = _prepare(_settings(data_dir))
    try:
        written = export_registry(engine, target, template=template)
    except (InvalidInput, OSError) as exc:
        _fail(exc.message if isinstance(exc, InvalidInput) else f"cannot write {target}: {exc}")
        return
    what = "template" if template else ", ".join(f"{sheet} {n}" for sheet, n in written.items())
    typer.echo(f"{target}: {what}")


# --- hj212 ---------------------------------------------------------------------------------------
@hj212_app.command("decode")
def hj212_decode(
    file: Annotated[Path | None, typer.Argument(help="one packet per line; default stdin")] = None,
    key: Annotated[str | None, typer.Option("--key", help="SM4 key, 32 hex digits (HJ 212-2025)")] = None,
) -> None:
    """Decode packets, one JSON object per line."""
    from envwatch.hj212.cli_decode import decode_line

    sm4_key = None
    if key is not None:
        try:
            sm4_key = bytes.fromhex(key)
        except ValueError:
            sm4_key = b""
        if len(sm4_key) != 16:
            _fail("--key must be 32 hex digits (a 128-bit SM4 key)")
    try:
        stream = file.open("rb") if file is not None else sys.stdin.buffer
    except OSError as exc:
        _fail(f"cannot read {file}: {exc}")
        return
    with stream:
        for line in stream:
            stripped = line.rstrip(b"\r\n")
            if not stripped.strip():
                continue
            typer.echo(json.dumps(decode_line(stripped, sm4_key), ensure_ascii=False))


# --- rates ---------------------------------------------------------------------------------------
@app.command()
def rates(
    from_: Annotated[str, typer.Option("--from", help="first China calendar day, YYYY-MM-DD")],
    to: Annotated[str, typer.Option("--to", help="last China calendar day (included), YYYY-MM-DD")],
    mn: Annotated[list[str] | None, typer.Option("--mn", help="only this device (repeatable)")] = None,
    group: Annotated[
        str, typer.Option(help="factor | device | outlet | enterprise | region | operator")
    ] = "device",
    region_level: Annotated[int, typer.Option(help="region grouping: 2 province, 4 city, 6 county")] = 6,
    format_: Annotated[str, typer.Option("--format", help="table | json | xlsx")] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="file to write (required for xlsx)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Effective transmission rates (有效传输率) with the counts behind them."""
    from datetime import date

    from envwatch.core.clock import utcnow
    from envwatch.core.errors import InvalidInput
    from envwatch.monitoring.rates import RateQuery, compute_rates

    if format_ not in ("table", "json", "xlsx"):
        _fail(f"--format must be table, json or xlsx, not {format_!r}")
    if format_ == "xlsx" and out is None:
        _fail("--format xlsx needs --out FILE.xlsx")
    try:
        first, last = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError as exc:
        _fail(f"--from/--to must be dates such as 2026-07-01: {exc}")
        return
    settings = _settings(data_dir)
    engine = _prepare(settings)
    try:
        rows = compute_rates(
            engine, settings, RateQuery(first, last, group=group, mns=mn, region_level=region_level), utcnow()
        )
    except InvalidInput as exc:
        _fail(exc.message)
        return
    if format_ == "xlsx":
        from envwatch.reports.rates_xlsx import write_rates_xlsx

        assert out is not None
        write_rates_xlsx(
            out, rows, title=f"有效传输率 effective transmission rates {first} – {last} ({group})"
        )
        typer.echo(f"{len(rows)} rows written to {out}")
        return
    if format_ == "json":
        text = json.dumps(rows, ensure_ascii=False, indent=2, default=str)
        if out is not None:
            out.write_text(text + "\n", encoding="utf-8")
        else:
            typer.echo(text)
        return
    _rates_table(rows, group)


def _rates_table(rows: list[dict[str, Any]], group: str) -> None:
    from rich.console import Console
    from rich.table import Table

    keys = {
        "factor": ("mn", "factor"),
        "device": ("mn", "device"),
        "outlet": ("enterprise", "outlet"),
        "enterprise": ("enterprise",),
        "region": ("region_code",),
        "operator": ("operator",),
    }[group]
    table = Table(title="有效传输率 effective transmission rate (%)")
    for name in (
        *keys,
        "expected",
        "received",
        "valid",
        "transmission",
        "validity",
        "effective",
        "realtime",
        "flags",
    ):
        table.add_column(name, justify="left" if name in keys or name == "flags" else "right")
    for r in rows:
        table.add_row(
            *(str(r.get(k) or "-") for k in keys),
            str(r["expected"]),
            str(r["received"]),
            str(r["valid"]),
            *(
                str(r[k]) if r[k] is not None else "-"
                for k in ("transmission_rate", "validity_rate", "effective_rate")
            ),
            str(r["realtime"]["effective_rate"] or "-"),
            ", ".join(f["requirement"] for f in r["flags"]),
        )
    # wide enough for a 24-character MN and every count without wrapping (a narrow terminal scrolls)
    Console(width=max(shutil.get_terminal_size().columns, 160)).print(table)


# --- alarms --------------------------------------------------------------------------------------
@alarms_app.command("list")
def alarms_list(
    open_: Annotated[bool, typer.Option("--open", help="only alarms not closed yet")] = False,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="offline, exceedance, … (repeatable)")
    ] = None,
    mn: Annotated[str | None, typer.Option("--mn", help="only this device")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000, help="at most this many, newest first")] = 100,
    format_: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    data_dir: DataDir = None,
) -> None:
    """Alarms newest first, with their state, device and latest detection."""
    from sqlalchemy import select

    from envwatch.alarms.lifecycle import STATES
    from envwatch.alarms.store import AlarmQuery, list_alarms
    from envwatch.core.clock import to_china
    from envwatch.registry.schema import devices

    if format_ not in ("table", "json"):
        _fail(f"--format must be table or json, not {format_!r}")
    engine = _prepare(_settings(data_dir))
    with engine.connect() as conn:
        device_ids = None
        if mn is not None:
            found = conn.execute(select(devices.c.id).where(devices.c.mn == mn)).scalar()
            if found is None:
                _fail(f"no device with MN {mn}")
            device_ids = [found]
        states = [s for s in STATES if s != "closed"] if open_ else None
        rows, total = list_alarms(
            conn, AlarmQuery(device_ids=device_ids, states=states, kinds=kind or None, limit=limit)
        )
    if format_ == "json":
        typer.echo(json.dumps({"total": total, "rows": rows}, ensure_ascii=False, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"alarms: {len(rows)} of {total}" + (" (not closed)" if open_ else ""))
    for column in (
        "id",
        "opened (China)",
        "state",
        "kind",
        "factor",
        "MN",
        "enterprise",
        "outlet",
        "summary",
    ):
        table.add_column(column)
    for r in rows:
        escalated = " ↑" if r["escalated_at"] is not None else ""
        table.add_row(
            str(r["id"]),
            f"{to_china(r['opened_at']):%Y-%m-%d %H:%M}",
            r["state"] + escalated,
            r["kind"],
            r["factor"],
            r["mn"],
            r["enterprise"],
            r["outlet"],
            r["summary"],
        )
    Console(width=max(shutil.get_terminal_size().columns, 160)).print(table)


@alarms_app.command("detect")
def alarms_detect(
    day: Annotated[str, typer.Option("--day", help="the China calendar day to judge, YYYY-MM-DD")],
    mn: Annotated[list[str] | None, typer.Option("--mn", help="only this device (repeatable)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the detectors over one day now (what `serve` does every ENVWATCH_DETECT_EVERY_S)."""
    from datetime import date

    from sqlalchemy import select

    from envwatch.alarms.detect_run import run_day
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import InvalidInput
    from envwatch.registry.schema import devices

    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        _fail(f"--day must be a date such as 2026-11-21: {exc}")
        return
    settings = _settings(data_dir)
    engine = _prepare(settings)
    device_ids = None
    if mn:
        with engine.connect() as conn:
            found = dict(conn.execute(select(devices.c.mn, devices.c.id).where(devices.c.mn.in_(mn))).all())
        unknown = sorted(set(mn) - set(found))
        if unknown:
            _fail(f"no device with MN {', '.join(unknown)}")
        device_ids = [found[m] for m in mn]
    try:
        run = run_day(engine, settings, when, utcnow(), device_ids=device_ids)
    except InvalidInput as exc:
        _fail(exc.message)
        return
    typer.echo(f"{when}: {run.devices} devices judged, {run.detections} detections, {run.opened} new alarms")


@alarms_app.command("watch")
def alarms_watch(data_dir: DataDir = None) -> None:
    """Run the alarm loops alone (offline watcher, escalation), e.g. beside separate gateway processes."""
    _logging()
    settings = _settings(data_dir)

    async def loops() -> None:
        from envwatch.alarms.loops import alarm_loops

        engine = await asyncio.to_thread(_prepare, settings)
        await asyncio.gather(*alarm_loops(engine, settings))

    _run(loops())


# --- running -------------------------------------------------------------------------------------
def _compliance_loops(engine: Any, settings: Settings) -> list[Coroutine[Any, Any, Any]]:
    """The daily compliance run (docs/compliance/engine.md) and the report schedule
    (docs/compliance/reports.md), as ``serve`` tasks."""
    from envwatch.compliance.loops import compliance_loop
    from envwatch.core.blobs import BlobStore
    from envwatch.core.clock import utcnow
    from envwatch.core.loops import every
    from envwatch.reports.periodic_schedule import schedule_round

    store = BlobStore.from_settings(settings)
    return [
        compliance_loop(engine, settings, logging.getLogger("envwatch.compliance")),
        every(
            settings.compliance_loop_every_s,
            "periodic reports",
            lambda: schedule_round(engine, settings, store, utcnow()),
            logging.getLogger("envwatch.reports"),
        ),
    ]


async def _serve(
    settings: Settings,
    *,
    gateway: bool,
    web: bool,
    extra: list[Coroutine[Any, Any, Any]],
    alarms: bool = False,
) -> None:
    import uvicorn

    from envwatch.core.heap import settle_heap
    from envwatch.ingest.gateway import Gateway
    from envwatch.web.app import create_app
    from envwatch.web.auth import admin_token

    stop = asyncio.Event()
    if not web:
        # before anything starts: a SIGTERM during start-up (systemd stopping a unit that is starting)
        # then stops the gateway cleanly once it is up instead of killing the process (uvicorn handles
        # the signals of the processes with the web app)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    engine = await asyncio.to_thread(_prepare, settings)
    gw = Gateway(settings, engine) if gateway else None
    if gw is not None:
        port = await gw.start()
        typer.echo(f"HJ 212 gateway: tcp://{settings.gateway_host}:{port}")
    if gw is not None and not web and settings.metrics_port:  # with the web app: its /metrics
        from envwatch.ingest.metrics import metrics_registry, serve_metrics

        serve_metrics(metrics_registry(gw), settings.metrics_host, settings.metrics_port)
        typer.echo(f"metrics: http://{settings.metrics_host}:{settings.metrics_port}/metrics")
    app = create_app(settings, engine, gw) if web else None
    settle_heap()  # what exists now lives as long as the process: keep full collections short
    background = [*extra, _keep_rate_counts_fresh(settings, engine)]
    if engine.dialect.name == "postgresql":  # monthly partitions ahead (docs/operations/postgresql.md)
        from envwatch.core.partitions import keep_ahead_loop

        background.append(keep_ahead_loop(engine, settings))
    if alarms:
        from envwatch.alarms.loops import alarm_loops
        from envwatch.evidence.loops import evidence_loops
        from envwatch.ingest.upstream.forwarder import upstream_loops

        background.extend(alarm_loops(engine, settings))
        # the evidence log: entries get their leaves, signed checkpoints follow (docs/evidence/log.md)
        background.extend(evidence_loops(engine, settings))
        # compliance (issue 9): every rule once a day, then the periodic reports whose period is over
        background.extend(_compliance_loops(engine, settings))
        # forwarding to upstream platforms 市 → 省 → 部 (docs/operations/upstream.md)
        background.append(upstream_loops(engine, settings))
    if app is not None:
        background.append(_keep_dashboard_warm(settings, engine, app.state.hour_cache))
    tasks = [asyncio.create_task(c) for c in background]
    try:
        if app is not None:
            config = uvicorn.Config(
                app,
                host=settings.http_host,
                port=settings.http_port,
                log_level="warning",
                loop="none",
            )
            typer.echo(
                f"HTTP API: http://127.0.0.1:{settings.http_port}/docs (token: {admin_token(settings)})"
            )
            await uvicorn.Server(config).serve()
        else:
            await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if gw is not None:
            await gw.stop()
            typer.echo(f"gateway stopped: {gw.stats()}")


async def _keep_rate_counts_fresh(settings: Settings, engine: Any) -> None:
    """Bring the per-day counts of the transmission rates up to date as data arrives, so that a quarter's
    rates are a sum when someone asks (``monitoring.day_counts``; a rate query also catches up itself)."""
    from envwatch.core.clock import utcnow
    from envwatch.monitoring.day_counts import refresh_day_counts

    log = logging.getLogger("envwatch.rates")
    while True:
        await asyncio.sleep(settings.rates_refresh_every_s)
        try:
            stats = await asyncio.to_thread(refresh_day_counts, engine, settings, utcnow())
        except Exception:  # a failed refresh is retried next time; the rates catch up on their own
            log.exception("refreshing the rate counts failed")
            continue
        if stats.device_hours:
            log.debug("rate counts: %d device-hours recomputed", stats.device_hours)


async def _keep_dashboard_warm(settings: Settings, engine: Any, cache: Any) -> None:
    """Judge today's new hours of the whole fleet into the app's hour cache, at start and then every
    ``dashboard_warm_every_s`` (``monitoring.overview.warm``): the regional overview then only reads."""
    from envwatch.core.clock import utcnow
    from envwatch.monitoring.overview import warm

    log = logging.getLogger("envwatch.dashboard")
    while True:
        try:
            started = time.monotonic()
            found = await asyncio.to_thread(warm, engine, settings, cache, utcnow())
            log.debug("dashboard warmed in %.1f s: %d exceedances today", time.monotonic() - started, found)
        except Exception:  # the dashboard judges what it needs itself; this only saves it the wait
            log.exception("warming the dashboard failed")
        await asyncio.sleep(settings.dashboard_warm_every_s)


GatewayPort = Annotated[int | None, typer.Option("--gateway-port", help="HJ 212 TCP port (default 8212)")]
HttpPort = Annotated[int | None, typer.Option("--http-port", help="HTTP port (default 8000)")]


@app.command()
def serve(data_dir: DataDir = None, gateway_port: GatewayPort = None, http_port: HttpPort = None) -> None:
    """HJ 212 gateway + HTTP API + alarm loops in one process, on the embedded store (or
    ENVWATCH_DATABASE_URL)."""
    _logging()
    settings = _settings(data_dir, gateway_port=gateway_port, http_port=http_port)
    _run(_serve(settings, gateway=True, web=True, extra=[], alarms=True))


@app.command()
def gateway(
    data_dir: DataDir = None,
    gateway_port: GatewayPort = None,
    queue: Annotated[
        str | None, typer.Option("--queue", help="nats://host:4222: publish to JetStream")
    ] = None,
) -> None:
    """The HJ 212 TCP gateway alone (with --queue: frames go to JetStream, `envwatch worker` stores them)."""
    _logging()
    settings = _settings(data_dir, gateway_port=gateway_port, queue_url=queue)
    _run(_serve(settings, gateway=True, web=False, extra=[]))


app.command()(worker)  # envwatch worker --consume nats://… (cli/worker.py)


@app.command()
def web(data_dir: DataDir = None, http_port: HttpPort = None) -> None:
    """The HTTP API alone (commands are sent by the gateway process that holds the connection)."""
    _logging()
    _run(_serve(_settings(data_dir, http_port=http_port), gateway=False, web=True, extra=[]))


@app.command()
def simulate(
    target: Annotated[str, typer.Option(help="HOST:PORT of the HJ 212 gateway")] = "127.0.0.1:8212",
    devices: Annotated[int, typer.Option(min=1, help="how many data loggers")] = 10,
    interval: Annotated[float, typer.Option(min=0.01, help="seconds between real-time packets")] = 30.0,
    protocol: Annotated[str, typer.Option(help="2017 or 2025")] = "2017",
    duration: Annotated[float | None, typer.Option(help="seconds to run (default: until Ctrl-C)")] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same devices)")] = 0,
    registry_csv: Annotated[
        Path | None,
        typer.Option(help="also write the simulated devices as a CSV for `envwatch devices import`"),
    ] = None,
) -> None:
    """Simulated gas and water data loggers sending real-time, minute and hour data."""
    from envwatch.ingest.simulator import demo_devices, run_simulation

    if protocol not in ("2017", "2025"):
        _fail("--protocol must be 2017 or 2025")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        _fail(f"--target {target!r} must be HOST:PORT")
    sims = demo_devices(devices, protocol, seed=seed)
    if registry_csv is not None:
        write_registry_csv(registry_csv, sims)
        typer.echo(f"registry written to {registry_csv}")

    async def go() -> None:
        stats = await run_simulation(
            host, int(port), sims, interval_s=interval, duration_s=duration, seed=seed
        )
        typer.echo(stats.summary())

    _run(go())


def write_registry_csv(path: Path, sims: Any) -> None:
    lines = ["mn,pw,name,enterprise,outlet,kind,protocol,sm4_key"]
    for i, d in enumerate(sims, start=1):
        key = d.sm4_key.hex().upper() if d.sm4_key else ""
        kind_zh = "废气" if d.kind == "gas" else "废水"
        lines.append(
            f"{d.mn},{d.pw},{kind_zh}数采仪{i},示范企业{(i + 1) // 2},{kind_zh}排放口{i},{d.kind},{d.protocol},{key}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@app.command()
def demo(
    data_dir: DataDir = None,
    gateway_port: GatewayPort = None,
    http_port: HttpPort = None,
    devices_2017: Annotated[int, typer.Option(min=0)] = 8,
    devices_2025: Annotated[int, typer.Option(min=0)] = 4,
    interval: Annotated[float, typer.Option(min=0.5, help="seconds between real-time packets")] = 10.0,
) -> None:
    """``serve`` plus the demo world (envwatch.demo): a registry, a user per role, the operator's O&M files
    (envwatch.demo_om), simulated devices feeding the gateway, and a week of their history requested
    through it."""
    from envwatch import demo as world
    from envwatch import demo_compliance, demo_evidence, demo_om, demo_sampling
    from envwatch.core.clock import utcnow
    from envwatch.ingest.simulator import demo_devices, run_simulation

    _logging()
    # the detectors judge the history as it comes back, within two minutes rather than serve's 15
    settings = _settings(data_dir, gateway_port=gateway_port, http_port=http_port, detect_every_s=120.0)
    sims = demo_devices(devices_2017, "2017", seed=1) + demo_devices(devices_2025, "2025", seed=2)
    engine = _prepare(settings)
    now = utcnow()
    # the registry is imported as of when the demo platform "went live", so the O&M history has devices
    report = world.install_registry(engine, settings.data_dir, sims, now - demo_om.REGISTRY_AGE)
    typer.echo(f"demo registry ({settings.data_dir / 'demo-registry.xlsx'}): {'; '.join(report.lines())}")
    queued = world.request_history(engine, sims, now)
    typer.echo(f"history requests queued (hours of the past {world.HISTORY_DAYS} days, 补传): {queued}")
    users = world.install_users(engine, settings.data_dir, now, settings.password_min_length)
    typer.echo(
        f"pages: http://127.0.0.1:{settings.http_port}/login — demo users (passwords kept in "
        f"{settings.data_dir / 'demo-passwords'}):"
    )
    for username, role, password in users:
        typer.echo(f"  {username:<14} {role:<12} {password}")
    for line in demo_om.install_om(engine, settings, now):
        typer.echo(f"O&M demo: {line}")
    for line in demo_sampling.install_sampling(engine, settings, now):
        typer.echo(f"sampling demo: {line}")
    for line in demo_evidence.install_evidence(engine, settings, utcnow()):
        typer.echo(f"evidence demo: {line}")
    for line in demo_compliance.install_compliance(engine, settings, utcnow()):
        typer.echo(f"compliance demo: {line}")
    simulation = run_simulation(
        "127.0.0.1", settings.gateway_port, sims, interval_s=interval, duration_s=None
    )
    _run(_serve(settings, gateway=True, web=True, extra=[simulation], alarms=True))
