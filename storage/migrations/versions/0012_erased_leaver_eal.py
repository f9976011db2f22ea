"""an erased alumnus's anonymous row keeps EAL and looked-after, like the other breakdowns

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows kept by erasures before this revision did not record the two: they read as "no" (as a
    # roster without the columns does), so the EAL and looked-after breakdowns stay as they were.
    with op.batch_alter_table("erasedleaver", schema=None) as batch_op:
        batch_op.add_column(sa.Column("eal", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("looked_after", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("erasedleaver", schema=None) as batch_op:
        batch_op.drop_column("looked_after")
        batch_op.drop_column("eal")
