"""registry: how a device reports a gas concentration (standard dry, standard wet, actual wet)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "device_factors",
        sa.Column(
            "basis",
            sa.String(length=16),
            server_default="standard_dry",
            nullable=False,
            comment="how the device reports gas concentrations: standard_dry 标态干基 (CEMS practice) | "
            "standard_wet 标态湿基 | actual_wet 工况湿基; the platform converts the other two to standard dry",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("device_factors", schema=None) as batch_op:
        batch_op.drop_column("basis")
