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

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade

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
