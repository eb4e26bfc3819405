"""data jobs: exports and fine-tunes run from the queue, with their outcome on the job

Revision ID: 6f2a9c4e8b13
Revises: 7a3d9e1f5c62
Create Date: 2026-12-02 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6f2a9c4e8b13"
down_revision: str | Sequence[str] | None = "7a3d9e1f5c62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PICTURE_KINDS = ("imagine", "variation", "reroll", "upscale")
DATA_KINDS = ("export", "fine_tune")


def _kinds_check(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _set_kinds(kinds: Sequence[str]) -> None:
    # On SQLite the batch copies the table; the old CHECK goes with the copy only if named here.
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_jobkind"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_jobkind"), _kinds_check(kinds))


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("outcome", sa.JSON(), nullable=True))
    _set_kinds(PICTURE_KINDS + DATA_KINDS)


def downgrade() -> None:
    # Data jobs have no place in the older schema.
    op.execute("DELETE FROM jobs WHERE " + _kinds_check(DATA_KINDS))
    _set_kinds(PICTURE_KINDS)
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("outcome")
