"""Progress of running jobs, for whoever watches them (a Discord message, a progress bar).

A job run in this process reports each step to the ``ProgressHub`` at once. A worker also
writes the steps into the job's row now and then (``StoredProgress``), and a front end in
another process reads them back from there as it watches for the job's end (``JobWatch``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from engine import Progress, ProgressCallback
from storage.queue import JobQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Held:
    """The job went back to its place in the queue to wait for the engine, which could not be
    reached; its steps start over when it runs. ``reason`` is for operators, not for people."""

    reason: str


# What a watcher is told: each step, and that the job is held.
Watcher = Callable[[Progress | Held], None]


class ProgressHub:
    def __init__(self) -> None:
        self._watchers: dict[str, list[Watcher]] = {}

    def watch(self, job_id: str, callback: Watcher) -> Callable[[], None]:
        """Call ``callback`` with each step of the job, and when it is held; returns what
        stops it."""
        self._watchers.setdefault(job_id, []).append(callback)

        def stop() -> None:
            callbacks = self._watchers.get(job_id, [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                self._watchers.pop(job_id, None)

        return stop

    def reporter(self, job_id: str) -> ProgressCallback:
        """The callback a worker gives the engine: it reaches whoever watches at that step,
        also those who started watching after the job started."""

        def report(progress: Progress) -> None:
            for callback in list(self._watchers.get(job_id, ())):
                callback(progress)

        return report

    def hold(self, job_id: str, reason: str) -> None:
        """Tell the job's watchers it waits for the engine."""
        for callback in list(self._watchers.get(job_id, ())):
            callback(Held(reason))


class StoredProgress:
    """Writes the steps of the jobs a worker runs into their rows, at most once per
    ``interval`` seconds a job: the other processes read them no more often than that."""

    def __init__(self, queue: JobQueue, worker_id: str, interval: float) -> None:
        self._queue = queue
        self._worker_id = worker_id
        self._interval = interval
        self._writes: set[asyncio.Task[None]] = set()

    def reporter(self, job_id: str) -> Watcher:
        loop = asyncio.get_running_loop()
        last_written = -self._interval
        writing: asyncio.Task[None] | None = None

        def report(progress: Progress | Held) -> None:
            nonlocal last_written, writing
            if isinstance(progress, Held):
                return  # the runner wrote it into the row already
            now = loop.time()
            if (writing is not None and not writing.done()) or now - last_written < self._interval:
                return
            last_written = now
            writing = loop.create_task(self._write(job_id, progress))
            # Held until done: the loop keeps only weak references to its tasks.
            self._writes.add(writing)
            writing.add_done_callback(self._writes.discard)

        return report

    async def _write(self, job_id: str, progress: Progress) -> None:
        try:
            await self._queue.record_progress(
                job_id, self._worker_id, progress.step, progress.total
            )
        except Exception:
            # A step not shown elsewhere is no loss; the job's end is written in any case.
            log.info("progress of job %s not written", job_id, exc_info=True)
