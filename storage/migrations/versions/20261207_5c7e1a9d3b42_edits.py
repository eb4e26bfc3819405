"""edits: zoom out, pan, make square and vary region, as jobs and as clicks

Revision ID: 5c7e1a9d3b42
Revises: 3d8f1b6c2e94
Create Date: 2026-12-07 06:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5c7e1a9d3b42"
down_revision: str | Sequence[str] | None = "3d8f1b6c2e94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_KINDS = ("imagine", "variation", "reroll", "upscale", "export", "fine_tune")
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
EDIT_JOB_KINDS = ("edit",)
EDIT_EVENT_KINDS = ("zoom_out", "pan", "make_square", "vary_region")


def _one_of(values: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _set_kinds(table: str, constraint: str, kinds: Sequence[str]) -> None:
    # On SQLite the batch copies the table; the old CHECK goes with the copy only if named here.
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(constraint), type_="check")
        batch.create_check_constraint(op.f(constraint), _one_of(kinds))


def upgrade() -> None:
    _set_kinds("jobs", "ck_jobs_jobkind", JOB_KINDS + EDIT_JOB_KINDS)
    _set_kinds("events", "ck_events_eventkind", EVENT_KINDS + EDIT_EVENT_KINDS)


def downgrade() -> None:
    # Edits have no place in the older schema: their clicks, then their jobs, go.
    op.execute("DELETE FROM events WHERE " + _one_of(EDIT_EVENT_KINDS))
    op.execute("DELETE FROM jobs WHERE " + _one_of(EDIT_JOB_KINDS))
    _set_kinds("events", "ck_events_eventkind", EVENT_KINDS)
    _set_kinds("jobs", "ck_jobs_jobkind", JOB_KINDS)
