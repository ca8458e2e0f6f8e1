"""derived: hour counts next to the hour masks of factor_day_hours (long-period rates summed in SQL)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = {  # count column → the mask it counts the bits of
    "received_hours": "received",
    "valid_hours": "valid",
    "received_on_time_hours": "received_on_time",
    "valid_on_time_hours": "valid_on_time",
}


def bit_count_sql(column: str) -> str:
    """The number of set bits of a 24-bit integer column, in SQL both SQLite and PostgreSQL run (neither
    has a popcount for integers): pairs, then nibbles, then the three bytes added (SWAR)."""
    pairs = f"({column} - (({column} >> 1) & 5592405))"  # 0x555555: each 2-bit field holds its count
    nibbles = f"(({pairs} & 3355443) + (({pairs} >> 2) & 3355443))"  # 0x333333
    octets = f"(({nibbles} + ({nibbles} >> 4)) & 986895)"  # 0x0F0F0F
    return f"(({octets} & 255) + (({octets} >> 8) & 255) + (({octets} >> 16) & 255))"


def upgrade() -> None:
    for name, mask in COUNTS.items():
        # the default only lets the column be added to a filled table; every row is counted just below
        op.add_column(
            "factor_day_hours",
            sa.Column(name, sa.Integer(), server_default="0", nullable=False, comment=f"hours set in {mask}"),
        )
    # the rows already counted get their counts from their masks, in place
    assignments = ", ".join(f"{name} = {bit_count_sql(mask)}" for name, mask in COUNTS.items())
    op.execute(f"UPDATE factor_day_hours SET {assignments}")


def downgrade() -> None:
    with op.batch_alter_table("factor_day_hours", schema=None) as batch_op:
        for name in reversed(COUNTS):
            batch_op.drop_column(name)
