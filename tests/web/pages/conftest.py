"""The pages' test world: a real app under uvicorn on a free port, on a fresh SQLite store.

Two enterprises (甲 in 杭州, 乙 in 广州) with one device each, plus one device on no outlet (the admin's
alone). Users: an admin, an enterprise user of 甲, and a spare user for the lockout test (so locking it
does not lock the others). Browser tests use Debian's /usr/bin/chromium through Playwright and skip,
with the reason shown, when it is missing (``make browser-deps`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Connection, Engine, Table, func, insert, select

from envwatch.core.clock import utcnow
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.ingest.schema import device_status, raw_packets
from envwatch.migrations import upgrade
from envwatch.monitoring.schema import measurements
from envwatch.registry import service as svc
from envwatch.registry.models import EnterpriseIn, OutletIn, credit_code_check_char
from envwatch.registry.store import DeviceRow, import_devices, load_devices
from envwatch.web.accounts import store
from envwatch.web.app import create_app
from tests.helpers import device_row

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
MN_A = "010000A8900016F0001A0001"  # 甲's device: online
MN_B = "010000A8900016F0001B0001"  # 乙's device: offline
MN_LOOSE = "010000A8900016F0001C0001"  # on no outlet yet
SO2 = "a21026"  # the factor 甲's device sends hour records for
DATA_HOURS = 6  # hours of data before now, the newest of them flagged C (calibration: invalid)
SCREENSHOTS = Path(os.environ.get("ENVWATCH_SCREENSHOTS", Path(__file__).parent / "screenshots"))


@dataclass(frozen=True)
class World:
    base_url: str
    settings: Settings
    engine: Engine
    enterprise_a: int
    enterprise_b: int


# ---- world-building steps every test world of the pages uses ----


def credit_code(n: int, prefix: str = "9133010200000") -> str:
    """A valid 统一社会信用代码: the 13 characters of ``prefix``, ``n`` in four digits and the GB 32100
    check character (each world has a prefix of its own, so that no two worlds share a code)."""
    first17 = f"{prefix}{n:04d}"
    return first17 + credit_code_check_char(first17)


@contextmanager
def fresh_store(data_dir: Path, **overrides: Any) -> Iterator[tuple[Settings, Engine]]:
    """A migrated store on ``data_dir`` (``page_settings`` with ``overrides``), disposed of at the end."""
    settings = page_settings(data_dir, **overrides)
    engine = make_engine(settings)
    upgrade(engine)
    try:
        yield settings, engine
    finally:
        engine.dispose()


def add_devices(engine: Engine, rows: Sequence[DeviceRow], now: datetime) -> dict[str, int]:
    """The data loggers (outside any open transaction: the registry import writes on its own); every
    device's id by MN."""
    import_devices(engine, list(rows), now)
    return {mn: rec.id for mn, rec in load_devices(engine).items()}


def set_status(conn: Connection, online: Mapping[int, bool], seen: datetime) -> None:
    """A device_status row per device id: online or not, last seen and changed at ``seen``."""
    conn.execute(
        insert(device_status),
        [{"device_id": d, "online": on, "last_seen": seen, "changed_at": seen} for d, on in online.items()],
    )


def create_users(conn: Connection, users: Sequence[tuple[str, dict[str, Any]]], now: datetime) -> None:
    """The users (username, role and scope fields), each with ``PASSWORD``."""
    for username, fields in users:
        store.create_user(conn, username, PASSWORD, fields, now, min_password_length=10)


def row_count(engine: Engine, table: Table) -> int:
    """How many rows ``table`` holds (a refused change must leave it as it was)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def shown_count(html: str, name: str) -> int:
    """The figure a page shows in its element ``id="n-<name>"``."""
    found = re.search(rf'id="n-{name}">(\d+)<', html)
    assert found is not None, name
    return int(found.group(1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def populate(engine: Engine) -> tuple[int, int]:
    """The registry, device status and users described in the module docstring."""
    now = utcnow()
    ids = add_devices(engine, [device_row(MN_A), device_row(MN_B), device_row(MN_LOOSE)], now)
    with engine.begin() as conn:
        ents = []
        for n, (name, region, mn) in enumerate(
            (("甲化工有限公司", "330102", MN_A), ("乙热电有限公司", "440103", MN_B)), start=1
        ):
            ent = svc.create_enterprise(
                conn, EnterpriseIn(name=name, credit_code=credit_code(n), region_code=region), now
            )
            outlet = svc.create_outlet(
                conn, ent["id"], OutletIn(code="DA001", name="1号排口", kind="gas"), now
            )
            svc.set_device_outlet(conn, mn, outlet["id"], now)
            ents.append(ent["id"])
        set_status(conn, {ids[MN_A]: True, ids[MN_B]: False}, now)
        _measurements(conn, ids[MN_A], now)
        users: list[tuple[str, dict[str, Any]]] = [
            ("admin1", {"role": "admin", "display_name": "王管理"}),
            ("ent_a", {"role": "enterprise", "enterprise_id": ents[0], "display_name": "甲环保专员"}),
            ("locky", {"role": "admin"}),
        ]
        create_users(conn, users, now)
    return ents[0], ents[1]


def _measurements(conn: Any, device_id: int, now: Any) -> None:
    """甲's device: SO2 hour records for the last ``DATA_HOURS`` whole hours (the newest flagged C), one
    real-time value, and one raw packet per record (the device page lists them)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    rows = []
    for n in range(1, DATA_HOURS + 1):
        flag = "C" if n == 1 else "N"
        rows.append(("hour", hour - timedelta(hours=n), {SO2: {"Avg": f"{10 + n}.5", "Flag": flag}}))
    rows.append(("rtd", now - timedelta(minutes=1), {SO2: {"Rtd": "12.3", "Flag": "N"}}))
    for packet_id, (kind, at, factors) in enumerate(rows, start=1):
        conn.execute(
            insert(measurements).values(
                device_id=device_id, kind=kind, data_time=at, part=0, factors=factors,
                packet_id=packet_id, backfill=False, received_at=now,
            )
        )  # fmt: skip
        conn.execute(
            insert(raw_packets).values(
                id=packet_id, received_at=now, peer="127.0.0.1:50000", device_id=device_id, mn=MN_A,
                cn="2011" if kind == "rtd" else "2061", qn=f"2026{packet_id:013d}", verdict="ok",
                reason=None, raw=b"##0000QN=...",
            )
        )  # fmt: skip


@contextmanager
def serving(settings: Settings, engine: Engine) -> Iterator[str]:
    """The app on ``engine`` under uvicorn on a free port of 127.0.0.1, in a thread; yields its base URL.
    Test packages with a world of their own (tests/web/pages/*/conftest.py) start theirs with this."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, engine), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="pages-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def page_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test world; cookie_secure off: the test server is plain http on 127.0.0.1 (the
    production default stays on)."""
    return Settings(data_dir=data_dir, cookie_secure=False, _env_file=None, **overrides)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with fresh_store(tmp_path_factory.mktemp("pages") / "var") as (settings, engine):
        ent_a, ent_b = populate(engine)
        with serving(settings, engine) as url:
            yield World(url, settings, engine, ent_a, ent_b)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (never ``playwright install``)."""
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the browser tests save their screenshots (gitignored; ENVWATCH_SCREENSHOTS overrides). Under
    pytest-xdist each worker has a folder of its own (gw0, gw1): a worker starting late must not empty the
    folder another is writing to."""
    folder = SCREENSHOTS / os.environ.get("PYTEST_XDIST_WORKER", "")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
