"""Database engine, shared metadata and the column types every context uses.

One URL switches between the embedded default (SQLite in WAL mode under the data directory) and
PostgreSQL (``postgresql+psycopg://…``). Tables are declared per context on the shared ``metadata``;
Alembic migrations (``core/migrations``) create them.

Invariants:
- times are stored in UTC: aware datetimes in, aware UTC datetimes out (``UtcDateTime``);
- measured values are exact decimals: text on SQLite (whose NUMERIC affinity would round through a
  float), NUMERIC on PostgreSQL (``ExactDecimal``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import NUMERIC, TypeDecorator, TypeEngine

from envwatch.core.settings import Settings

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# 64-bit ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY (which is 64-bit there).
BigId = BigInteger().with_variant(Integer, "sqlite")

# SQLAlchemy's own storage format for DateTime on SQLite; the raw-SQL writer uses the same.
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetime stored as UTC; naive datetimes are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC is stored)")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A measured value kept exactly as the device sent it (never through a float)."""

    impl = String(48)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(NUMERIC())
        return dialect.type_descriptor(String(48))

    def process_bind_param(self, value: Decimal | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and exact_text(value) is None:
            raise ValueError(f"{value!r} is not a decimal number")
        exact = value if isinstance(value, Decimal) else Decimal(value)
        return exact if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


# A plain decimal number as devices write them (HJ 212 N14.2 and the like; an exponent is tolerated).
# Checking the text is ~4x cheaper than building a Decimal, and this runs for every stored value.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def exact_text(text: str | None) -> str | None:
    """The value text when it is a finite decimal number ("12.30" stays "12.30"), else None ("", "--", "NaN")."""
    if text is None:
        return None
    text = text.strip()
    return text if _DECIMAL_TEXT.fullmatch(text) else None


def make_engine(settings: Settings) -> Engine:
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return engine_from_url(url, sqlite_synchronous=settings.sqlite_synchronous)


def engine_from_url(
    url: str, *, sqlite_synchronous: str = "FULL", sqlite_cache_mib: int | None = None
) -> Engine:
    """An engine for ``url``; on SQLite every connection gets WAL and the chosen durability, and a page
    cache of ``sqlite_cache_mib`` when given (else SQLite's default of 2 MiB)."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    synchronous = sqlite_synchronous.upper()
    if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(
            f"ENVWATCH_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}"
        )
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the single writer
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if sqlite_cache_mib is not None:
            cur.execute(f"PRAGMA cache_size=-{int(sqlite_cache_mib) * 1024}")  # negative: KiB
        cur.close()

    @event.listens_for(engine, "savepoint")
    def _open_before_savepoint(conn: Any, _name: Any) -> None:
        # pysqlite (legacy transaction control) opens a transaction only before the first INSERT, UPDATE
        # or DELETE. A SAVEPOINT issued before any of them would itself open the transaction, and its
        # RELEASE would then commit: the outer rollback could no longer undo what the savepoint wrote.
        # Opening the transaction first keeps the savepoint nested, as on PostgreSQL. Reads before it
        # still run outside a transaction, as they always did, so the locking behaviour is unchanged.
        dbapi_conn = conn.connection.dbapi_connection
        if not dbapi_conn.in_transaction:
            dbapi_conn.execute("BEGIN")

    return engine


def guarded(conn: Connection, statement: Any, recheck: Callable[[], None]) -> Any:
    """Run ``statement`` (its RETURNING value, else None) in a savepoint. When a unique constraint refuses
    it, because a concurrent write took the value since the caller looked, roll back just the statement and
    call ``recheck``, which raises the caller's clear error (a Conflict naming the holder); the transaction
    stays usable for that look."""
    try:
        with conn.begin_nested():
            result = conn.execute(statement)
            return result.scalar_one() if result.returns_rows else None
    except IntegrityError:
        recheck()
        raise
