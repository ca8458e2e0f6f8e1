"""Alembic environment: takes the engine from ``config.attributes`` (see envwatch.migrations)."""

from __future__ import annotations

from alembic import context

from envwatch.migrations import include_name, target_metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
        compare_type=True,
        include_name=include_name,  # not the monthly partitions (PostgreSQL)
    )
    with context.begin_transaction():
        context.run_migrations()
