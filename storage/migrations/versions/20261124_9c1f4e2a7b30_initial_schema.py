"""initial schema: users, model versions, jobs, images, events

Revision ID: 9c1f4e2a7b30
Revises:
Create Date: 2026-11-24 21:20:11.948376
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c1f4e2a7b30"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration records the schema as it was when written, so the enum members are spelled
# out here rather than read from storage.models, whose enums will grow.
CONSENTS = ("unknown", "opted_in", "opted_out")
JOB_KINDS = ("imagine", "variation", "reroll", "upscale")
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
ORIGINS = ("discord", "cli")
EVENT_KINDS = (
    "upscale",
    "vary_subtle",
    "vary_strong",
    "reroll",
    "favorite",
    "like",
    "dislike",
    "delete",
    "rate_left",
    "rate_right",
    "rate_tie",
    "rate_skip",
)
PARENT_IMAGE_FOREIGN_KEY = "fk_jobs_parent_image_id_images"


def _one_of(column: str, values: Sequence[str]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def _timestamp(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # jobs and images reference each other. PostgreSQL needs images to exist before the
    # reference to it, so it is added once both tables are there; SQLite cannot add a
    # constraint to an existing table, but accepts a reference to a table not made yet.
    on_sqlite = op.get_context().dialect.name == "sqlite"
    parent_image_reference_in_create_table = (
        [
            sa.ForeignKeyConstraint(
                ["parent_image_id"],
                ["images.id"],
                name=op.f(PARENT_IMAGE_FOREIGN_KEY),
                ondelete="SET NULL",
            )
        ]
        if on_sqlite
        else []
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("discord_id", sa.BigInteger(), nullable=True),
        sa.Column("local_name", sa.String(length=100), nullable=True),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("consent", sa.String(length=32), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("defaults", sa.JSON(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("discord_id", name=op.f("uq_users_discord_id")),
        sa.UniqueConstraint("local_name", name=op.f("uq_users_local_name")),
        sa.CheckConstraint(
            "(discord_id IS NULL) <> (local_name IS NULL)", name=op.f("ck_users_one_identity")
        ),
        sa.CheckConstraint(_one_of("consent", CONSENTS), name=op.f("ck_users_consent")),
    )

    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("base_model", sa.String(length=500), nullable=False),
        sa.Column("lora_path", sa.String(length=1000), nullable=True),
        sa.Column("lora_sha256", sa.String(length=64), nullable=True),
        sa.Column("serving", sa.Boolean(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("name", name=op.f("uq_model_versions_name")),
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_job_id", sa.Integer(), nullable=True),
        sa.Column("parent_image_id", sa.Integer(), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("base_seed", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("discord_guild_id", sa.BigInteger(), nullable=True),
        sa.Column("discord_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("discord_message_id", sa.BigInteger(), nullable=True),
        sa.Column("grid_sha256", sa.String(length=64), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        _timestamp("lease_expires_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("public_id", name=op.f("uq_jobs_public_id")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_jobs_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_job_id"],
            ["jobs.id"],
            name=op.f("fk_jobs_parent_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_jobs_model_version_id_model_versions"),
        ),
        *parent_image_reference_in_create_table,
        sa.CheckConstraint(_one_of("kind", JOB_KINDS), name=op.f("ck_jobs_jobkind")),
        sa.CheckConstraint(_one_of("status", JOB_STATUSES), name=op.f("ck_jobs_jobstatus")),
        sa.CheckConstraint(_one_of("origin", ORIGINS), name=op.f("ck_jobs_origin")),
    )
    op.create_index(op.f("ix_jobs_owner_id"), "jobs", ["owner_id"])
    op.create_index(op.f("ix_jobs_parent_job_id"), "jobs", ["parent_job_id"])
    op.create_index(op.f("ix_jobs_parent_image_id"), "jobs", ["parent_image_id"])
    op.create_index(op.f("ix_jobs_model_version_id"), "jobs", ["model_version_id"])
    op.create_index(op.f("ix_jobs_status_created_at"), "jobs", ["status", "created_at"])

    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=12), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("public_id", name=op.f("uq_images_public_id")),
        sa.UniqueConstraint("job_id", "position", name=op.f("uq_images_job_id_position")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_images_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "position >= 0 AND position < 4", name=op.f("ck_images_position_in_grid")
        ),
    )
    op.create_index(op.f("ix_images_sha256"), "images", ["sha256"])

    if not on_sqlite:
        op.create_foreign_key(
            op.f(PARENT_IMAGE_FOREIGN_KEY),
            "jobs",
            "images",
            ["parent_image_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("other_image_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("other_position", sa.Integer(), nullable=True),
        sa.Column("result_job_id", sa.Integer(), nullable=True),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_events_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_events_image_id_images"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["other_image_id"],
            ["images.id"],
            name=op.f("fk_events_other_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["result_job_id"],
            ["jobs.id"],
            name=op.f("fk_events_result_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(_one_of("kind", EVENT_KINDS), name=op.f("ck_events_eventkind")),
        sa.CheckConstraint(_one_of("origin", ORIGINS), name=op.f("ck_events_origin")),
    )
    op.create_index(op.f("ix_events_user_id"), "events", ["user_id"])
    op.create_index(op.f("ix_events_job_id"), "events", ["job_id"])
    op.create_index(op.f("ix_events_image_id"), "events", ["image_id"])
    op.create_index(op.f("ix_events_other_image_id"), "events", ["other_image_id"])
    op.create_index(op.f("ix_events_result_job_id"), "events", ["result_job_id"])
    op.create_index(op.f("ix_events_created_at"), "events", ["created_at"])


def downgrade() -> None:
    # Dropping a table drops its indexes. The jobs/images cycle is broken first where the
    # reference is a constraint of its own (on SQLite it goes with the jobs table).
    if op.get_context().dialect.name != "sqlite":
        op.drop_constraint(op.f(PARENT_IMAGE_FOREIGN_KEY), "jobs", type_="foreignkey")
    op.drop_table("events")
    op.drop_table("images")
    op.drop_table("jobs")
    op.drop_table("model_versions")
    op.drop_table("users")
