"""destination marks: the row that counts per alumnus and year (latest), and whether it is sustained (held)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.destination_marks import mark_all

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Kept at write time by storage.destination_marks, so reports stop ranking every row (issue 15).
    with op.batch_alter_table("destination", schema=None) as batch_op:
        batch_op.add_column(sa.Column("latest", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False))
    mark_all(op.get_bind())  # the destinations already there
    # Partial, over the rows that count, written as each dialect renders `WHERE latest` (SQLite uses
    # a partial index only for the very same term); covering what a report reads of them.
    op.create_index(
        "ix_destination_latest",
        "destination",
        ["person_id", "year_after_leaving", "group", "nccis_code", "held"],
        sqlite_where=sa.text("latest = 1"),
        postgresql_where=sa.text("latest"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE destination")  # the planner's statistics for the new index and columns


def downgrade() -> None:
    op.drop_index("ix_destination_latest", table_name="destination")
    with op.batch_alter_table("destination", schema=None) as batch_op:
        batch_op.drop_column("held")
        batch_op.drop_column("latest")
