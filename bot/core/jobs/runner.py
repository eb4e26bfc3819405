"""Running one claimed job: hand it to the handler of its kind, then write what it made.

Delivery is at-least-once and every step is idempotent by job id: handlers repeat their work
the same way (a job's seeds are fixed when it is queued, the image store is content-addressed,
a fine-tune resumes from its checkpoints), and what a job made is written in the same
transaction that marks it done, so a job run twice leaves exactly one set of rows and files.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.jobs.handlers import Handlers, JobResult
from engine import EngineUnavailable, ProgressCallback
from storage.db import Database, rows_changed
from storage.models import Job, JobStatus, utcnow
from storage.queue import UNFINISHED, announce

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(
        self,
        database: Database,
        handlers: Handlers,
        worker_id: str,
        lease_seconds: float,
    ) -> None:
        self._database = database
        self._handlers = handlers
        self._worker_id = worker_id
        self._lease = timedelta(seconds=lease_seconds)

    async def run(self, job_id: str, on_progress: ProgressCallback | None = None) -> JobStatus:
        """Run a job this worker has claimed; returns its final status.

        A job that another worker has taken over (this worker's claim lapsed) is left to it.
        """
        async with self._database.sessions.begin() as session:
            job = await self._claim_for_running(session, job_id)
            if job is None:
                return await _status_of(session, job_id)
        try:
            handler = self._handlers.get(job.kind)
            if handler is None:
                raise RuntimeError(f"this pickloop cannot run {job.kind.value} jobs")
            result = await handler.run(job, on_progress)
        except asyncio.CancelledError:
            # The claim lapses and another start takes the job over.
            raise
        except EngineUnavailable as error:
            # Not the job's fault: it waits in the queue, where it was, for the engine's return.
            log.info("job %s waits: %s", job.public_id, error)
            await self._put_back(job, error)
            raise
        except Exception as error:
            log.exception("job %s failed", job.public_id)
            await self._finish_failed(job, _one_line(error))
            return JobStatus.FAILED
        return await self._finish_done(job, result)

    # --- steps -----------------------------------------------------------------------------
    async def _claim_for_running(self, session: AsyncSession, job_id: str) -> Job | None:
        now = utcnow()
        result = await session.execute(
            update(Job)
            .where(
                Job.public_id == job_id,
                Job.claimed_by == self._worker_id,
                Job.status.in_(UNFINISHED),
            )
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                lease_expires_at=now + self._lease,
                started_at=now,
                # An earlier attempt's steps, or why it waited, are not this one's.
                progress_step=None,
                progress_total=None,
                error=None,
            )
        )
        if not rows_changed(result):
            return None
        return (
            await session.execute(
                select(Job).where(Job.public_id == job_id).execution_options(populate_existing=True)
            )
        ).scalar_one()

    async def _finish_done(self, job: Job, result: JobResult) -> JobStatus:
        async with self._database.sessions.begin() as session:
            still_ours = await session.execute(
                update(Job)
                .where(
                    Job.id == job.id,
                    Job.claimed_by == self._worker_id,
                    Job.status == JobStatus.RUNNING,
                )
                .values(
                    status=JobStatus.DONE,
                    grid_sha256=result.grid_sha256,
                    outcome=result.outcome,
                    finished_at=utcnow(),
                    claimed_by=None,
                    lease_expires_at=None,
                    error=None,
                )
            )
            if not rows_changed(still_ours):
                # Another worker took the job over while this one was slow; it owns the result.
                return await _status_of(session, job.public_id)
            await announce(session, job.public_id)
            for image in result.images:
                image.job_id = job.id
                session.add(image)
        return JobStatus.DONE

    async def _put_back(self, job: Job, reason: EngineUnavailable) -> None:
        await self._end_claim(
            job,
            status=JobStatus.QUEUED,
            # Why it waits, for whoever watches it from another process.
            error=_one_line(reason),
            # A try the engine never took does not count towards giving up on the job.
            attempts=Job.attempts - 1,
            started_at=None,
            progress_step=None,
            progress_total=None,
        )

    async def _finish_failed(self, job: Job, message: str) -> None:
        await self._end_claim(job, status=JobStatus.FAILED, error=message, finished_at=utcnow())

    async def _end_claim(self, job: Job, **values: object) -> None:
        """Let go of this worker's claim on the job, writing ``values``; waiting processes
        hear of it."""
        async with self._database.sessions.begin() as session:
            await session.execute(
                update(Job)
                .where(Job.id == job.id, Job.claimed_by == self._worker_id)
                .values(claimed_by=None, lease_expires_at=None, **values)
            )
            await announce(session, job.public_id)


async def _status_of(session: AsyncSession, job_id: str) -> JobStatus:
    status = (
        await session.execute(select(Job.status).where(Job.public_id == job_id))
    ).scalar_one_or_none()
    # No row: its owner deleted their data (/privacy delete) before the job could finish.
    return JobStatus.CANCELLED if status is None else JobStatus(status)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:500]
