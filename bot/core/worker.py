"""A worker: claims jobs from the shared queue, in fair order, and runs them.

Any number of workers may share one database: the bot runs one beside Discord unless told not
to, and ``pickloop worker`` is nothing but one (one per GPU, say). A worker claims jobs while it
has room (``capacity`` running at once: grids that wait for the engine together are drawn in one
pipeline call), renews its claims while it lives, and sweeps the queue now and then for the jobs
of workers that died. It hears of new jobs from this process at once, from PostgreSQL's
announcements at once, and otherwise by polling. Fine-tunes run beside that room, one at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from bot.core.app import App
from bot.core.jobs.pause import until_nudged
from bot.core.jobs.processes import worker_is_gone
from bot.core.jobs.progress import StoredProgress
from bot.core.loop.flywheel import Flywheel
from engine.errors import EngineUnavailable
from storage.models import JobKind, JobStatus
from storage.notices import listen

log = logging.getLogger(__name__)

# How long a worker whose engine was unavailable leaves picture jobs in the queue before it
# tries the engine again (data jobs go on meanwhile).
ENGINE_RETRY_SECONDS = 5.0

# The sweep looks for dead workers' jobs at least this often, and at most every third of a
# lease (a lapsed claim is noticed within a third of a lease of lapsing).
_LONGEST_SWEEP_SECONDS = 10.0


class QueueWorker:
    def __init__(
        self, app: App, *, capacity: int, kinds: Collection[JobKind] | None = None
    ) -> None:
        if capacity < 1:
            raise ValueError("a worker runs at least one job at a time")
        self._app = app
        self._capacity = capacity
        self._kinds = frozenset(kinds if kinds is not None else JobKind)
        self._running: dict[str, asyncio.Task[None]] = {}
        # The fine-tune running here, if any: see ``_claim_round``.
        self._fine_tune: str | None = None
        self._wakeup = asyncio.Event()
        # Resolved at the end of the next claiming round: see ``claimed_round``.
        self._next_round: asyncio.Future[None] | None = None
        self.finished_jobs = 0
        # Until when (the loop's clock) picture jobs wait: the engine was unavailable.
        self._engine_back_at = 0.0
        self._stored_progress = StoredProgress(
            app.queue, app.worker_id, app.settings.queue_poll_seconds
        )

    @property
    def busy(self) -> bool:
        """Whether a job is running here now."""
        return bool(self._running)

    @property
    def running(self) -> list[str]:
        return list(self._running)

    def wake(self, _job_id: str = "") -> None:
        """A job may be waiting: claim now rather than at the next poll."""
        self._wakeup.set()

    async def claimed_round(self) -> None:
        """Return once the worker has claimed what it could of the jobs waiting now, so a
        front end can tell whether a job it just queued started or waits its turn."""
        if self._next_round is None:
            self._next_round = asyncio.get_running_loop().create_future()
        round_done = self._next_round
        self.wake()
        await asyncio.shield(round_done)

    async def work(self) -> None:
        """Claim and run jobs until cancelled. Jobs cut short by the cancellation are not
        lost: their claims lapse and a sweep hands them to another worker."""
        async with listen(self._app.database, self._heard), asyncio.TaskGroup() as tasks:
            tasks.create_task(self._sweeping())
            tasks.create_task(self._turning())
            try:
                await self._claiming(tasks)
            finally:
                for task in self._running.values():
                    task.cancel()

    def _heard(self, _job_id: str) -> None:
        self.wake()

    async def _claiming(self, tasks: asyncio.TaskGroup) -> None:
        poll = self._app.settings.queue_poll_seconds
        while True:
            self._wakeup.clear()
            round_done, self._next_round = self._next_round, None
            try:
                await self._claim_round(tasks)
            except Exception:
                log.warning("could not claim from the queue", exc_info=True)
            finally:
                if round_done is not None and not round_done.done():
                    round_done.set_result(None)
            await until_nudged(self._wakeup, poll)

    async def _claim_round(self, tasks: asyncio.TaskGroup) -> None:
        """Claim what this worker has room for. A fine-tune has a lane of its own, one at a
        time: it trains on a thread of its own, so it holds up no one's grids for its minutes,
        and two at once would share one device's memory."""
        queue, worker_id = self._app.queue, self._app.worker_id
        if self._fine_tune is None and JobKind.FINE_TUNE in self._kinds:
            self._fine_tune = await queue.claim_next(worker_id, {JobKind.FINE_TUNE})
            if self._fine_tune is not None:
                self._start(tasks, self._fine_tune)
        others = self._kinds - {JobKind.FINE_TUNE}
        if asyncio.get_running_loop().time() < self._engine_back_at:
            others = frozenset(kind for kind in others if not kind.makes_pictures)
        while others and len(self._running) - (self._fine_tune is not None) < self._capacity:
            job_id = await queue.claim_next(worker_id, others)
            if job_id is None:
                break
            self._start(tasks, job_id)

    def _start(self, tasks: asyncio.TaskGroup, job_id: str) -> None:
        self._running[job_id] = tasks.create_task(self._run(job_id))

    async def _run(self, job_id: str) -> None:
        # Its steps go to the database too, for front ends in other processes: one more
        # watcher of the job in this process's hub.
        stop_storing = self._app.progress.watch(job_id, self._stored_progress.reporter(job_id))
        try:
            status = await self._app.runner.run(job_id, self._app.progress.reporter(job_id))
        except EngineUnavailable as unavailable:
            # The job is back in the queue; the others wait there too until the engine is.
            self._engine_back_at = asyncio.get_running_loop().time() + ENGINE_RETRY_SECONDS
            self._app.progress.hold(job_id, str(unavailable))
            return
        except Exception:
            log.exception("running job %s failed", job_id)
            status = JobStatus.FAILED
        finally:
            stop_storing()
            del self._running[job_id]
            if job_id == self._fine_tune:
                self._fine_tune = None
            self.wake()
        self.finished_jobs += 1
        self._app.watch.ended(job_id, status)

    async def _turning(self) -> None:
        """Turn the flywheel now and then: its rounds move on, by themselves, between the
        jobs it queues (``bot.core.loop.flywheel``)."""
        flywheel = Flywheel(self._app)
        while True:
            await asyncio.sleep(self._app.settings.flywheel_check_seconds)
            try:
                happened = await flywheel.turn()
            except Exception:
                log.warning("could not turn the flywheel", exc_info=True)
            else:
                if happened:
                    self.wake()

    async def _sweeping(self) -> None:
        interval = min(_LONGEST_SWEEP_SECONDS, self._app.queue.lease_seconds / 3)
        while True:
            try:
                swept = await self._app.queue.sweep(self._app.worker_id, worker_is_gone)
            except Exception:
                log.warning("could not sweep the queue", exc_info=True)
            else:
                for job_id in swept.released:
                    log.info("job %s was left by a worker that stopped; queued again", job_id)
                for job_id in swept.given_up:
                    log.warning("job %s failed: %s", job_id, "its worker stopped each time")
                    self._app.watch.ended(job_id, JobStatus.FAILED)
                if swept.released:
                    self.wake()
            await asyncio.sleep(interval)
