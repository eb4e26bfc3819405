"""What people did with a job's pictures: every click, reaction and rating recorded on them,
and the jobs the clicks started, oldest first, so an operator can follow a grid's story."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from bot.core.errors import NotFound
from storage.db import Database
from storage.models import Event, EventKind, Image, Job, Origin, User


@dataclass(frozen=True)
class Signal:
    at: str
    who: str
    kind: str
    origin: str
    # The picture of this job it names (1-based grid index); None: the whole grid.
    image: int | None
    # A /rate choice's other picture, by image id (it may belong to another job).
    compared_with: str | None
    started_job_id: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def job_story(database: Database, job_id: str) -> list[Signal]:
    """The signals on a job and its pictures, in one query."""
    named, other, started = aliased(Image), aliased(Image), aliased(Job)
    async with database.sessions() as session:
        job = await session.scalar(select(Job.id).where(Job.public_id == job_id))
        if job is None:
            raise NotFound(f"No job {job_id!r}.")
        rows = await session.execute(
            select(
                Event.created_at,
                User.display_name,
                Event.kind,
                Event.origin,
                named.job_id,
                named.position,
                named.public_id,
                other.job_id,
                other.position,
                other.public_id,
                started.public_id,
            )
            .join(User, Event.user_id == User.id)
            .outerjoin(named, Event.image_id == named.id)
            .outerjoin(other, Event.other_image_id == other.id)
            .outerjoin(started, Event.result_job_id == started.id)
            .where(or_(Event.job_id == job, other.job_id == job))
            .order_by(Event.created_at, Event.id)
        )
        return [_signal(job, *row) for row in rows.all()]


def _signal(
    job: int,
    at: datetime,
    who: str,
    kind: EventKind,
    origin: Origin,
    named_job: int | None,
    named_position: int | None,
    named_id: str | None,
    other_job: int | None,
    other_position: int | None,
    other_id: str | None,
    started: str | None,
) -> Signal:
    image, compared_with = None, None
    if named_job == job and named_position is not None:
        image, compared_with = named_position + 1, other_id
    elif other_job == job and other_position is not None:
        # This job's picture was the right-hand one of a /rate pair.
        image, compared_with = other_position + 1, named_id
    return Signal(
        at=at.isoformat(),
        who=who,
        kind=kind.value,
        origin=origin.value,
        image=image,
        compared_with=compared_with,
        started_job_id=started,
    )
