"""Shared fixtures: real stores only (DESIGN convention 10).

``engine`` runs a test on the embedded SQLite file and, where a server answers, on PostgreSQL too;
without one the PostgreSQL variant is skipped with the reason shown (``pytest -ra``).
"""

from __future__ import annotations

import os
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


@pytest.fixture
def sqlite_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL not reachable: set ENVWATCH_TEST_POSTGRES_URL or run one on 127.0.0.1:5432")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {url} refused to create a schema: {exc}")
    # the schema travels in the URL (not connect_args) so that the writer process connects to it too
    engine = create_engine(make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}))
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
