"""Evidence tables: the database itself refuses UPDATE and DELETE (DESIGN convention 5), so no code path,
script or mistaken admin query can rewrite history. Corrections are new rows.

A later migration that alters such a table calls :func:`reprotect_append_only` afterwards: on SQLite,
Alembic's batch mode rebuilds the table (copy into a new table, drop the old one, rename), and dropping
the old table drops its triggers with it; PostgreSQL keeps them through ``ALTER TABLE``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_ACTIONS = ("UPDATE", "DELETE")


def _sqlite_trigger(table: str, action: str) -> str:
    return f"{table}_no_{action.lower()}"


def protect_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in _ACTIONS:
            _create_sqlite_trigger(table, action)
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION envwatch_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION envwatch_append_only()"
        )


def _create_sqlite_trigger(table: str, action: str) -> None:
    op.execute(
        f"CREATE TRIGGER {_sqlite_trigger(table, action)} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
    )


def append_only_triggers(table: str) -> set[str]:
    """The names of the append-only triggers ``table`` has now."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table"
    else:  # the table as the search path finds it (the tests run each in a schema of its own)
        query = "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal"
    return {str(name) for name in bind.execute(sa.text(query), {"table": table}).scalars()}


def reprotect_append_only(table: str) -> None:
    """The append-only triggers of ``table`` again, those it lost (none lost: nothing done)."""
    present = append_only_triggers(table)
    if op.get_bind().dialect.name == "sqlite":
        for action in _ACTIONS:
            if _sqlite_trigger(table, action) not in present:
                _create_sqlite_trigger(table, action)
    elif f"{table}_append_only" not in present:
        protect_append_only(table)
