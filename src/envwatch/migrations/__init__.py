"""Alembic migrations for every context's tables, run programmatically (no alembic.ini to keep in sync).

``upgrade(engine)`` brings any database, the embedded SQLite file or PostgreSQL, to the newest schema.
This package sits at the top of the import graph because it must see every context's tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData

HERE = Path(__file__).parent


def target_metadata() -> MetaData:
    # Importing the schema modules registers their tables on the shared metadata.
    from envwatch.alarms import notify_schema as _notify  # noqa: F401
    from envwatch.alarms import orders_schema as _orders  # noqa: F401
    from envwatch.alarms import schema as _alarms  # noqa: F401
    from envwatch.compliance import schema as _compliance  # noqa: F401
    from envwatch.core import evidence_schema as _core_evidence  # noqa: F401
    from envwatch.core.db import metadata
    from envwatch.evidence import schema as _evidence  # noqa: F401
    from envwatch.ingest import queue_schema as _queue  # noqa: F401
    from envwatch.ingest import schema as _ingest  # noqa: F401
    from envwatch.ingest.upstream import schema as _upstream  # noqa: F401
    from envwatch.monitoring import derived_schema as _derived  # noqa: F401
    from envwatch.monitoring import marks_schema as _marks  # noqa: F401
    from envwatch.monitoring import schema as _monitoring  # noqa: F401
    from envwatch.operations import faults_schema as _faults  # noqa: F401
    from envwatch.operations import ledger_schema as _ledger  # noqa: F401
    from envwatch.operations import records_schema as _records  # noqa: F401
    from envwatch.operations import staff_schema as _staff  # noqa: F401
    from envwatch.operations import tickets_schema as _tickets  # noqa: F401
    from envwatch.registry import agencies_schema as _agencies  # noqa: F401
    from envwatch.registry import disclosure_schema as _disclosure  # noqa: F401
    from envwatch.registry import schema as _registry  # noqa: F401
    from envwatch.reports import periodic_schema as _periodic  # noqa: F401
    from envwatch.sampling import schema as _sampling  # noqa: F401
    from envwatch.web.accounts import schema as _accounts  # noqa: F401

    return metadata


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# The monthly partitions of measurements and raw_packets on PostgreSQL (core.partitions), and those retired
# (detached) from them, are tables of their own in the catalogue but not in the declared metadata.
_PARTITION = re.compile(r"(measurements|raw_packets)_(p\d{4}_\d{2}|default)")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: compare everything but the partitions (autogenerate, tests)."""
    return not (type_ == "table" and name is not None and _PARTITION.fullmatch(name))
