"""Evidence tables: the database itself refuses UPDATE and DELETE (DESIGN convention 5), so no code path,
script or mistaken admin query can rewrite history. Corrections are new rows."""

from __future__ import annotations

from alembic import op


def protect_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION envwatch_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION envwatch_append_only()"
        )
