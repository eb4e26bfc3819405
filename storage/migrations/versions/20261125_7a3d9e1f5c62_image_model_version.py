"""image model version: which model version drew each picture (blind A/B grids mix two)

Revision ID: 7a3d9e1f5c62
Revises: 5e2b8d0c4a17
Create Date: 2026-11-25 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a3d9e1f5c62"
down_revision: str | Sequence[str] | None = "5e2b8d0c4a17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("model_version_id", sa.Integer(), nullable=True))
    # Every picture made so far came from its job's version.
    op.execute(
        "UPDATE images SET model_version_id = "
        "(SELECT jobs.model_version_id FROM jobs WHERE jobs.id = images.job_id)"
    )
    with op.batch_alter_table("images") as batch:
        batch.alter_column("model_version_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            op.f("fk_images_model_version_id_model_versions"),
            "model_versions",
            ["model_version_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_images_model_version_id"), ["model_version_id"])


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_index(op.f("ix_images_model_version_id"))
        batch.drop_constraint(op.f("fk_images_model_version_id_model_versions"), type_="foreignkey")
        batch.drop_column("model_version_id")
