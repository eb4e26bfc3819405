"""Moderation for the people who run a server: see the queue, cancel jobs, block people.

Every action checks, here and not only in the front end, that the person acting may moderate:
a front end tells whether they hold the server's Manage Server permission, and the ids in
PICKLOOP_ADMIN_IDS may moderate everywhere. Anyone else is refused and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.actor import Actor, find_user, get_or_create_user
from bot.core.errors import NotFound, PermissionDenied, UserError
from storage.db import Database
from storage.models import Job, JobStatus, User, utcnow
from storage.queue import UNFINISHED, announce, fair_order

NOT_AN_ADMIN = "Only pickloop admins (people who can manage this server) may do that."


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    status: str
    owner: str
    owner_discord_id: int | None
    prompt: str
    # Its place in the queue (1: next); None when it runs, or a worker has claimed it.
    position: int | None


class Moderation:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._admin_ids = frozenset(settings.admin_ids)

    def may_moderate(self, actor: Actor, *, manages_server: bool) -> bool:
        return manages_server or (
            actor.discord_id is not None and actor.discord_id in self._admin_ids
        )

    def check(self, actor: Actor, *, manages_server: bool) -> None:
        if not self.may_moderate(actor, manages_server=manages_server):
            raise PermissionDenied(NOT_AN_ADMIN)

    async def queue(self, actor: Actor, *, manages_server: bool) -> list[QueuedJob]:
        """Every unfinished job: running ones first, then in the order they will run."""
        self.check(actor, manages_server=manages_server)
        async with self._database.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Job.public_id, Job.status, Job.prompt, User.display_name, User.discord_id
                    )
                    .join(User, Job.owner_id == User.id)
                    .where(Job.status.in_(UNFINISHED))
                    .order_by(Job.created_at, Job.id)
                )
            ).all()
            places = {job_id: place for place, job_id in enumerate(await fair_order(session), 1)}
        jobs = [
            QueuedJob(
                job_id=job_id,
                status=JobStatus(status).value,
                owner=owner,
                owner_discord_id=discord_id,
                prompt=prompt,
                position=places.get(job_id),
            )
            for job_id, status, prompt, owner, discord_id in rows
        ]
        # Sorted is stable: claimed jobs about to start keep their age order, after the
        # running ones and before those waiting in line.
        return sorted(
            jobs,
            key=lambda job: (
                job.status != JobStatus.RUNNING.value,
                job.position is not None,
                job.position or 0,
            ),
        )

    async def cancel(
        self,
        actor: Actor,
        job_id: str,
        *,
        manages_server: bool,
    ) -> None:
        """Cancel a queued job; a running one cannot be stopped halfway and is refused."""
        self.check(actor, manages_server=manages_server)
        async with self._database.sessions.begin() as session:
            cancelled = await _cancel_queued(session, Job.public_id == job_id)
            if not cancelled:
                status = (
                    await session.execute(select(Job.status).where(Job.public_id == job_id))
                ).scalar_one_or_none()
        if not cancelled:
            if status is None:
                raise NotFound(f"No job {job_id!r}.")
            if JobStatus(status) is JobStatus.RUNNING:
                raise UserError(
                    f"Job `{job_id}` is running already; a running job can't be cancelled."
                )
            raise UserError(f"Job `{job_id}` is {JobStatus(status).value}; nothing to cancel.")

    async def block(
        self,
        actor: Actor,
        person: Actor,
        *,
        manages_server: bool,
    ) -> list[str]:
        """Block ``person`` from asking for anything; returns their queued jobs, now cancelled.
        A job of theirs already running finishes."""
        self.check(actor, manages_server=manages_server)
        if person.identity == actor.identity:
            raise UserError("You can't block yourself.")
        async with self._database.sessions.begin() as session:
            # find_user first: get_or_create_user refuses people who are blocked already.
            user = await find_user(session, person) or await get_or_create_user(session, person)
            user.blocked = True
            cancelled = await _cancel_queued(session, Job.owner_id == user.id)
        return cancelled

    async def unblock(self, actor: Actor, person: Actor, *, manages_server: bool) -> bool:
        """Let ``person`` use pickloop again; False if they were not blocked."""
        self.check(actor, manages_server=manages_server)
        async with self._database.sessions.begin() as session:
            user = await find_user(session, person)
            if user is None or not user.blocked:
                return False
            user.blocked = False
        return True


async def _cancel_queued(session: AsyncSession, which: ColumnElement[bool]) -> list[str]:
    """Mark the queued jobs ``which`` selects cancelled; returns their ids.

    Compare-and-set on the status: a job a worker started a moment ago is left to finish,
    and a job cancelled here is never started (the runner only starts unfinished jobs).
    Whoever waits for it hears of it (``storage.queue.announce``, or their next poll).
    """
    ids = list(
        (
            await session.execute(
                update(Job)
                .where(which, Job.status == JobStatus.QUEUED)
                .values(
                    status=JobStatus.CANCELLED,
                    finished_at=utcnow(),
                    claimed_by=None,
                    lease_expires_at=None,
                )
                .returning(Job.public_id)
            )
        )
        .scalars()
        .all()
    )
    for job_id in ids:
        await announce(session, job_id)
    return ids
