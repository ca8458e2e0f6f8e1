"""The SQLite engine keeps savepoints nested: an outer rollback undoes what a savepoint wrote.

pysqlite's legacy transaction control opens a transaction only before the first INSERT, UPDATE or DELETE;
without ``core.db``'s savepoint hook a SAVEPOINT issued first opened the transaction itself and its
RELEASE committed, so the stores that guard one statement with ``begin_nested`` (unique-constraint races)
left rows behind when the request failed later.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from envwatch.core.db import engine_from_url


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = engine_from_url(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    return engine


def rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT x FROM t ORDER BY x")).scalars())


def test_an_outer_rollback_undoes_a_released_savepoint(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("SELECT 1"))  # a read first: no transaction is open yet
        with conn.begin_nested():
            conn.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("the request fails after the guarded statement")
    assert rows(engine) == []


def test_savepoints_still_roll_back_alone_and_commit_with_the_transaction(engine: Engine) -> None:
    with engine.begin() as conn:
        with conn.begin_nested():
            conn.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(ValueError), conn.begin_nested():
            conn.execute(text("INSERT INTO t VALUES (2)"))
            raise ValueError("a refused statement")
        conn.execute(text("INSERT INTO t VALUES (3)"))
    assert rows(engine) == [1, 3]


def test_a_page_cache_is_set_on_every_connection_only_when_asked(tmp_path: Path) -> None:
    def cache_size(engine: Engine) -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("PRAGMA cache_size")).scalar_one())

    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    assert cache_size(engine_from_url(url, sqlite_cache_mib=64)) == -64 * 1024  # negative: KiB
    assert cache_size(engine_from_url(url)) == -2000  # SQLite's own default
