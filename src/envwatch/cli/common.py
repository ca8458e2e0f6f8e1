"""What every ``envwatch`` command shares: settings, errors, the event loop, logging, the store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from envwatch.core.settings import Settings

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="embedded store directory (default ./var)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


def json_default(value: Any) -> Any:
    """What ``--json`` prints for values JSON has no type for: times in China time, decimals exact."""
    if isinstance(value, datetime):
        from envwatch.core.clock import to_china

        return to_china(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def china_time(moment: datetime | None) -> str:
    """A stored (UTC) time as China wall-clock minutes for a table cell; "—" when there is none."""
    from envwatch.core.clock import to_china

    return "—" if moment is None else f"{to_china(moment):%Y-%m-%d %H:%M}"


def read_store(data_dir: Path | None, reader: Any) -> Any:
    """``reader(conn)`` on the store; its EnvwatchError as a clean failure."""
    from envwatch.core.errors import EnvwatchError

    engine = _prepare(_settings(data_dir))
    try:
        with engine.connect() as conn:
            return reader(conn)
    except EnvwatchError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=json_default))


def _settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (DESIGN: asyncio + uvloop)."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.Runner()
    with runner, contextlib.suppress(KeyboardInterrupt):
        runner.run(coro)


def _logging(verbose: bool = False, log_format: str | None = None) -> None:
    """Log to stderr; setting ``log_format`` (``ENVWATCH_LOG_FORMAT``): text, or json for a collector."""
    from envwatch.cli.logs import json_handler

    chosen = log_format or Settings().log_format
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[json_handler()] if chosen == "json" else None,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations say what they do at INFO


def _prepare(settings: Settings) -> Any:
    from envwatch.core.db import make_engine
    from envwatch.migrations import upgrade

    engine = make_engine(settings)
    upgrade(engine)
    return engine


def use_store(data_dir: Path | None, action: Any) -> Any:
    """``action(engine, settings)`` on the store (migrated first); its EnvwatchError as a clean failure.

    For commands that need the engine itself (a computation opening its own connections) or run several
    transactions; ``read_store`` and ``write_store`` cover one connection or one transaction."""
    from envwatch.core.errors import EnvwatchError

    settings = _settings(data_dir)
    engine = _prepare(settings)
    try:
        return action(engine, settings)
    except EnvwatchError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()


def write_store(data_dir: Path | None, action: Any) -> Any:
    """``action(conn, settings)`` in one transaction; its EnvwatchError as a clean failure."""

    def in_transaction(engine: Any, settings: Settings) -> Any:
        with engine.begin() as conn:
            return action(conn, settings)

    return use_store(data_dir, in_transaction)
