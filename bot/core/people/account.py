"""What a person has going on and has given (``/info``): their place in line and their counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from bot.config import Settings
from bot.core.actor import Actor, find_user
from storage.db import Database
from storage.models import Event, EventKind, Image, Job, JobStatus
from storage.queue import fair_order

# Clicks that made something; every other event is a rating (reactions, /rate choices).
CLICKS = (
    EventKind.UPSCALE,
    EventKind.VARY_SUBTLE,
    EventKind.VARY_STRONG,
    EventKind.REROLL,
    EventKind.ZOOM_OUT,
    EventKind.PAN,
    EventKind.MAKE_SQUARE,
    EventKind.VARY_REGION,
)


@dataclass(frozen=True)
class LineEntry:
    """An unfinished job and where it stands: its place in the queue (1: next), None once a
    worker has it."""

    job_id: str
    status: str
    prompt: str
    position: int | None


@dataclass(frozen=True)
class AccountInfo:
    running: list[LineEntry]
    queued: list[LineEntry]
    jobs: int
    images: int
    clicks: int
    ratings: int
    queue_limit: int


class Accounts:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._settings = settings

    async def info(self, actor: Actor) -> AccountInfo:
        async with self._database.sessions() as session:
            user = await find_user(session, actor)
            if user is None:
                return AccountInfo([], [], 0, 0, 0, 0, self._settings.queue_per_person)
            unfinished = (
                await session.execute(
                    select(Job.public_id, Job.status, Job.prompt)
                    .where(
                        Job.owner_id == user.id,
                        Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
                    )
                    .order_by(Job.created_at, Job.id)
                )
            ).all()
            jobs = await session.scalar(
                select(func.count()).select_from(Job).where(Job.owner_id == user.id)
            )
            images = await session.scalar(
                select(func.count())
                .select_from(Image)
                .join(Job, Image.job_id == Job.id)
                .where(Job.owner_id == user.id)
            )
            clicks = await session.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.user_id == user.id, Event.kind.in_(CLICKS))
            )
            ratings = await session.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.user_id == user.id, Event.kind.not_in(CLICKS))
            )
            places = {job_id: place for place, job_id in enumerate(await fair_order(session), 1)}
        entries = [
            LineEntry(
                job_id,
                JobStatus(status).value,
                prompt,
                places.get(job_id),
            )
            for job_id, status, prompt in unfinished
        ]
        return AccountInfo(
            running=[entry for entry in entries if entry.status == JobStatus.RUNNING.value],
            queued=sorted(
                (entry for entry in entries if entry.status == JobStatus.QUEUED.value),
                key=lambda entry: (entry.position is not None, entry.position or 0),
            ),
            jobs=int(jobs or 0),
            images=int(images or 0),
            clicks=int(clicks or 0),
            ratings=int(ratings or 0),
            queue_limit=self._settings.queue_per_person,
        )
