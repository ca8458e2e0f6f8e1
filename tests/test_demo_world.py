"""``make demo``'s world (envwatch.demo): the registry goes in through the import path, scopes fit the
roles, passwords are kept once (0600), and the history requests are queued per logger."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from envwatch import demo
from envwatch.core.settings import Settings
from envwatch.ingest.schema import commands
from envwatch.ingest.simulator import demo_devices
from envwatch.registry.schema import contracts, devices, emission_limits, enterprises, outlets
from envwatch.web.accounts.passwords import verify_password
from envwatch.web.accounts.store import user_for_login
from envwatch.web.auth import principal_of
from envwatch.web.scope import resolve_scope

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
SIMS = demo_devices(8, "2017", seed=1) + demo_devices(4, "2025", seed=2)


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_registry_is_imported_once_and_every_device_has_an_outlet(
    settings: Settings, sqlite_engine: Engine
) -> None:
    first = demo.install_registry(sqlite_engine, settings.data_dir, SIMS, NOW)
    assert first.counts["enterprises"].created == 6 and first.counts["devices"].created == 12
    assert (settings.data_dir / "demo-registry.xlsx").exists()
    again = demo.install_registry(sqlite_engine, settings.data_dir, SIMS, NOW)
    assert again.counts["enterprises"].created == 0 and again.counts["devices"].created == 0
    assert _count(sqlite_engine, emission_limits) == 12 * 3  # 12 outlets, 3 limits each
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).where(devices.c.outlet_id.is_(None))).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(outlets)).scalar_one() == 12
        assert conn.execute(select(func.count()).select_from(contracts)).scalar_one() == demo.OPERATED
        regions = set(conn.execute(select(enterprises.c.region_code)).scalars())
    assert regions == {"140105", "140106", "140213"}


def test_users_see_what_their_role_should(settings: Settings, sqlite_engine: Engine) -> None:
    demo.install_registry(sqlite_engine, settings.data_dir, SIMS, NOW)
    made = demo.install_users(sqlite_engine, settings.data_dir, NOW, settings.password_min_length)
    again = demo.install_users(sqlite_engine, settings.data_dir, NOW, settings.password_min_length)
    assert made == again  # the second demo run keeps every password
    path = settings.data_dir / "demo-passwords"
    assert path.stat().st_mode & 0o777 == 0o600
    with sqlite_engine.connect() as conn:
        for username, _role, password in made:
            user = user_for_login(conn, username)
            assert user is not None and verify_password(user["password_hash"], password)[0]
        seen = {
            name: resolve_scope(conn, principal_of(user_for_login(conn, name) or {}), NOW.date())
            for name in ("sx_regulator", "ty_regulator", "enterprise1", "operator1")
        }
    assert seen["sx_regulator"].device_ids is not None and len(seen["sx_regulator"].device_ids) == 12
    assert len(seen["ty_regulator"].device_ids or ()) == 8  # 太原's four enterprises, not 大同's two
    assert len(seen["enterprise1"].device_ids or ()) == 2
    assert len(seen["operator1"].device_ids or ()) == 2 * demo.OPERATED


def test_history_is_requested_from_every_logger(settings: Settings, sqlite_engine: Engine) -> None:
    demo.install_registry(sqlite_engine, settings.data_dir, SIMS, NOW)
    assert demo.request_history(sqlite_engine, SIMS, NOW) == 2 * len(SIMS)
    with sqlite_engine.connect() as conn:
        rows = conn.execute(select(commands.c.cn, commands.c.params)).all()
    assert {cn for cn, _ in rows} == {"2061", "2051"}
    hours = next(p for cn, p in rows if cn == "2061")
    assert hours == {"BeginTime": "20261119120000", "EndTime": "20261122120000"}  # China time
