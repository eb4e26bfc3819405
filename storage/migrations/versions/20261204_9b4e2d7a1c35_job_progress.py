"""job progress: the steps a running job has done, for front ends in other processes

Revision ID: 9b4e2d7a1c35
Revises: 6f2a9c4e8b13
Create Date: 2026-12-04 01:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b4e2d7a1c35"
down_revision: str | Sequence[str] | None = "6f2a9c4e8b13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("progress_step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("progress_total", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("progress_total")
        batch.drop_column("progress_step")
