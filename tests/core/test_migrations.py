"""Migrations produce exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from envwatch.migrations import alembic_config, current_revision, target_metadata, upgrade


def test_schema_matches_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), target_metadata()
        )
    assert diff == []
    assert current_revision(engine) is not None


def test_downgrade_and_upgrade_again(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "base")
    assert "raw_packets" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "raw_packets" in inspect(engine).get_table_names()
