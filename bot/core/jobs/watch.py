"""Waiting for jobs to end, whichever process runs them.

A job run in this process is reported here by its worker the moment it ends. Any other job is
learnt of from the database: at once when PostgreSQL announces it, otherwise at the next poll
(every ``poll_seconds``, and only while someone is waiting). The steps such a job has done
are read with its status and told to this process's watchers (see ``bot.core.jobs.progress``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select

from bot.core.jobs.pause import until_nudged
from bot.core.jobs.progress import ProgressHub
from engine import Progress
from storage.db import Database
from storage.models import Job, JobStatus
from storage.notices import listen

log = logging.getLogger(__name__)


class JobWatch:
    def __init__(
        self, database: Database, poll_seconds: float, progress: ProgressHub, worker_id: str
    ) -> None:
        self._database = database
        self._poll_seconds = poll_seconds
        self._progress = progress
        # This process's own jobs tell their steps to the hub themselves.
        self._worker_id = worker_id
        self._steps_told: dict[str, tuple[int, int]] = {}
        # Why each job that waits for the engine waits, as last told.
        self._held_told: dict[str, str] = {}
        self._waiting: dict[str, asyncio.Future[JobStatus]] = {}
        self._news = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None

    async def finished(self, job_id: str) -> JobStatus:
        """The job's final status, once it has one; a job whose row is gone (its owner
        deleted their data) counts as cancelled."""
        future = self._waiting.get(job_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[job_id] = future
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        self._news.set()
        # Shielded: one waiter giving up must not cancel the others' future.
        return await asyncio.shield(future)

    def ended(self, job_id: str, status: JobStatus) -> None:
        """A job this process ran (or cancelled) ended."""
        future = self._waiting.pop(job_id, None)
        self._steps_told.pop(job_id, None)
        self._held_told.pop(job_id, None)
        if future is not None and not future.done():
            future.set_result(status)

    def news(self, _job_id: str = "") -> None:
        """Something changed in the queue (a PostgreSQL announcement): look now."""
        self._news.set()

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    async def _poll(self) -> None:
        # Listening only while someone waits: the connection it takes is given back after.
        # Giving it back awaits, and a waiter that comes meanwhile sees this poller not yet
        # done and starts none: hence the outer loop, whose last check and the task's end
        # happen with no await between them.
        while self._waiting:
            async with listen(self._database, self.news):
                while self._waiting:
                    self._news.clear()
                    try:
                        await self._look()
                    except Exception:
                        log.warning("could not read job statuses", exc_info=True)
                    if not self._waiting:
                        break
                    await until_nudged(self._news, self._poll_seconds)

    async def _look(self) -> None:
        wanted = sorted(self._waiting)
        async with self._database.sessions() as session:
            rows = await session.execute(
                select(
                    Job.public_id,
                    Job.status,
                    Job.claimed_by,
                    Job.progress_step,
                    Job.progress_total,
                    Job.error,
                ).where(Job.public_id.in_(wanted))
            )
            found = {row.public_id: row for row in rows.all()}
        for job_id in wanted:
            row = found.get(job_id)
            status = JobStatus(row.status) if row is not None else JobStatus.CANCELLED
            if status.finished:
                self.ended(job_id, status)
            elif row is None or row.claimed_by == self._worker_id:
                continue
            elif status == JobStatus.QUEUED and row.error:
                self._tell_held(job_id, row.error)
            else:
                self._tell_steps(job_id, row.progress_step, row.progress_total)

    def _tell_held(self, job_id: str, reason: str) -> None:
        if self._held_told.get(job_id) == reason:
            return
        self._held_told[job_id] = reason
        # Its steps start over once it runs again.
        self._steps_told.pop(job_id, None)
        self._progress.hold(job_id, reason)

    def _tell_steps(self, job_id: str, step: int | None, total: int | None) -> None:
        if step is None or total is None or self._steps_told.get(job_id) == (step, total):
            return
        self._steps_told[job_id] = (step, total)
        self._progress.reporter(job_id)(Progress(step=step, total=total))
