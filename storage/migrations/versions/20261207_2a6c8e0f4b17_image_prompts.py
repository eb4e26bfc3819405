"""image prompts: the pictures people give with a prompt (/imagine attachment, /blend)

Revision ID: 2a6c8e0f4b17
Revises: 5c7e1a9d3b42
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2a6c8e0f4b17"
down_revision: str | Sequence[str] | None = "5c7e1a9d3b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_image_prompts_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_prompts")),
        sa.UniqueConstraint("job_id", "position", name=op.f("uq_image_prompts_job_id_position")),
    )
    op.create_index(op.f("ix_image_prompts_job_id"), "image_prompts", ["job_id"])
    op.create_index(op.f("ix_image_prompts_sha256"), "image_prompts", ["sha256"])


def downgrade() -> None:
    # The files stay in the image store; a later upgrade finds no rows naming them.
    op.drop_table("image_prompts")
