"""profiles and the flywheel: people's and the server's profiles (--p), share codes, and the
rounds of the flywheel with what each decision rested on

Revision ID: 3d8f1b6c2e94
Revises: 9b4e2d7a1c35
Create Date: 2026-12-06 23:16:22.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3d8f1b6c2e94"
down_revision: str | Sequence[str] | None = "9b4e2d7a1c35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_profiles_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_profiles_version_id_model_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
        sa.UniqueConstraint("key", name=op.f("uq_profiles_key")),
        sa.UniqueConstraint("owner_id", name=op.f("uq_profiles_owner_id")),
    )
    op.create_table(
        "flywheel_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "exporting",
                "training",
                "collecting",
                "awaiting_approval",
                "promoted",
                "retired",
                "failed",
                "rolled_back",
                name="roundstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("baseline_version_id", sa.Integer(), nullable=False),
        sa.Column("candidate_version_id", sa.Integer(), nullable=True),
        sa.Column("export_job_id", sa.Integer(), nullable=True),
        sa.Column("fine_tune_job_id", sa.Integer(), nullable=True),
        sa.Column("export_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("signals", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("losses", sa.Integer(), nullable=False),
        sa.Column("ties", sa.Integer(), nullable=False),
        sa.Column("interval_low", sa.Float(), nullable=True),
        sa.Column("interval_high", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["baseline_version_id"],
            ["model_versions.id"],
            name=op.f("fk_flywheel_rounds_baseline_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["candidate_version_id"],
            ["model_versions.id"],
            name=op.f("fk_flywheel_rounds_candidate_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["export_job_id"],
            ["jobs.id"],
            name=op.f("fk_flywheel_rounds_export_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["fine_tune_job_id"],
            ["jobs.id"],
            name=op.f("fk_flywheel_rounds_fine_tune_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_flywheel_rounds_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flywheel_rounds")),
    )
    with op.batch_alter_table("flywheel_rounds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flywheel_rounds_profile_id"), ["profile_id"], unique=False
        )

    op.create_table(
        "profile_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_profile_shares_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_shares")),
        sa.UniqueConstraint("code", name=op.f("uq_profile_shares_code")),
    )
    with op.batch_alter_table("profile_shares", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_shares_profile_id"), ["profile_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("profile_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_shares_profile_id"))

    op.drop_table("profile_shares")
    with op.batch_alter_table("flywheel_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flywheel_rounds_profile_id"))

    op.drop_table("flywheel_rounds")
    op.drop_table("profiles")
