"""Shared fixtures: real stores only (DESIGN convention 10).

``engine`` runs a test on the embedded SQLite file and, where a server answers, on PostgreSQL too;
without one the PostgreSQL variant is skipped with the reason shown (``pytest -ra``).

Each test gets a store of its own at the head of the migrations. Running the migrations for every test
cost about 0.4 s (SQLite) and 0.9 s (PostgreSQL) each, minutes over the suite, so they run once per
session into a template: a copy of the migrated SQLite file, and on PostgreSQL a database created from a
migrated template database (``CREATE DATABASE … TEMPLATE``, about 0.25 s). The migrations themselves are
tested from an empty store in ``tests/core/test_migrations.py``.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine, make_url, text

from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from envwatch.web.accounts import passwords

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str | None:
    url = os.environ.get("ENVWATCH_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return DEFAULT_PG
    except OSError:
        return None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]


def _sqlite_file(settings: Settings) -> Path:
    return Path(make_url(settings.resolved_database_url()).database or "")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated to head once per session (closed, so its WAL is folded in)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("template") / "var", _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(settings)
    upgrade(engine)
    engine.dispose()
    return _sqlite_file(settings)


@pytest.fixture
def sqlite_engine(settings: Settings, sqlite_template: Path) -> Iterator[Engine]:
    path = _sqlite_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A PostgreSQL database migrated to head once per session, the template of each test's database;
    None (the PostgreSQL tests then skip) when no server answers or it refuses to create databases."""
    url = postgres_url()
    if url is None:
        yield None
        return
    name = f"envwatch_tpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception:  # reported by pg_engine's skip, which tries the same and shows why
        admin.dispose()
        yield None
        return
    migrated = create_engine(make_url(url).set(database=name))
    upgrade(migrated)
    migrated.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def pg_engine(pg_template: str | None) -> Iterator[Engine]:
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL not reachable: set ENVWATCH_TEST_POSTGRES_URL or run one on 127.0.0.1:5432")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        if pg_template is None:
            raise RuntimeError("the template database could not be created")
        with admin.connect() as conn:
            # FILE_COPY: a plain copy of the template's files (WAL_LOG, the default, took 0.6 s a test)
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {pg_template} STRATEGY FILE_COPY"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {url} refused to create a test database: {exc}")
    # the database travels in the URL, so that the writer process connects to it too
    engine = create_engine(make_url(url).set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")


# argon2id at its lowest cost in tests. The production parameters (argon2-cffi's RFC 9106 low-memory profile:
# 64 MiB, 3 passes) cost 0.1–0.3 s a hash on this machine, on purpose; the tenancy and page worlds create and
# log in dozens of users per test, which made password hashing minutes of the suite. It is still argon2id,
# still verified and rehashed by the same code; tests marked ``real_password_hashing`` (the hashing and
# rehash-on-login tests) get the production parameters.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", CHEAP_HASHER)
        yield


@pytest.fixture(autouse=True)
def _real_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("real_password_hashing") is not None:
        monkeypatch.setattr(passwords, "_hasher", PasswordHasher())


# What a test module leaves alive (module fixtures' apps and engines, caches, hypothesis' databases) is
# moved out of the collector's sight when the module ends, after one collection of what the module made.
# Without it every full collection walks the whole heap of a worker that has run hundreds of modules: late
# in the run one took ~20 s, charged to whichever test happened to trigger it (see core.heap for the same
# idea in the services).
@pytest.fixture(scope="module", autouse=True)
def _settle_heap_after_each_module() -> Iterator[None]:
    yield
    gc.collect()
    gc.freeze()
