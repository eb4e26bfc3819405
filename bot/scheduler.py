"""Fair turns on the engine: round-robin between people, not first come, first served.

One person queuing twenty grids must not make everyone else wait behind all twenty: each person
has their own line, and the engine takes the next job from each line in turn. Caps keep the
lines short; a request over a cap is refused before anything is written, with a message that
says why and when to try again.

Several jobs may run at once (``running_at_once``): the engine draws the grids that wait for it
together in one pipeline call, which costs little more than one grid, so a busy server's people
get their grids sooner. Turns are still handed out in the fair order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field

from bot.errors import UserError
from bot.runner import JobRunner
from engine import ProgressCallback
from storage.models import JobStatus

log = logging.getLogger(__name__)

# Until a job has finished, a guess at how long one takes, for "try again in ..." messages.
_FIRST_GUESS_SECONDS = 30.0


class QueueFull(UserError):
    """Over a person's or the whole queue's cap; nothing was queued."""


@dataclass
class Ticket:
    """A queued job: where its progress goes and the future that its final status resolves."""

    job_id: str
    owner: Hashable
    on_progress: ProgressCallback | None
    done: asyncio.Future[JobStatus] = field(repr=False)


class _Reservation:
    """A place in line held while the job's rows are written, so two quick requests by one
    person cannot both pass the cap check before either is queued."""

    def __init__(self, scheduler: FairScheduler, owner: Hashable) -> None:
        self._scheduler = scheduler
        self._owner = owner
        self.ticket: Ticket | None = None

    def submit(self, job_id: str, on_progress: ProgressCallback | None = None) -> Ticket:
        if self.ticket is not None:
            raise RuntimeError("a reservation holds one job")
        self.ticket = self._scheduler._enqueue(job_id, self._owner, on_progress)
        return self.ticket


class FairScheduler:
    def __init__(
        self, runner: JobRunner, *, per_person_cap: int, global_cap: int, running_at_once: int = 1
    ) -> None:
        if running_at_once < 1:
            raise ValueError("running_at_once must be at least 1")
        self._runner = runner
        self._running_at_once = running_at_once
        self._per_person_cap = per_person_cap
        self._global_cap = global_cap
        # Each person's own line, and the order in which people get their next turn.
        self._lines: dict[Hashable, deque[Ticket]] = {}
        self._turns: deque[Hashable] = deque()
        self._running: dict[str, Ticket] = {}
        self._reserved: dict[Hashable, int] = {}
        self._wakeup = asyncio.Event()
        self._seconds_per_job = _FIRST_GUESS_SECONDS

    # --- asking -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def reserve(self, owner: Hashable) -> AsyncIterator[_Reservation]:
        """Hold a place for ``owner`` or raise QueueFull; released if no job is submitted."""
        self._check_caps(owner)
        self._reserved[owner] = self._reserved.get(owner, 0) + 1
        reservation = _Reservation(self, owner)
        try:
            yield reservation
        finally:
            self._reserved[owner] -= 1
            if not self._reserved[owner]:
                del self._reserved[owner]

    def submit(
        self, job_id: str, owner: Hashable, on_progress: ProgressCallback | None = None
    ) -> Ticket:
        """Queue a job already in the database (a recovered one, say), past the caps."""
        return self._enqueue(job_id, owner, on_progress)

    def position(self, job_id: str) -> int | None:
        """0 while running, 1 for next in turn, and so on; None when not here."""
        if job_id in self._running:
            return 0
        for place, ticket in enumerate(self._fair_order(), start=1):
            if ticket.job_id == job_id:
                return place
        return None

    @property
    def busy(self) -> bool:
        """Whether a job is running now."""
        return bool(self._running)

    def ahead_of(self, job_id: str) -> int | None:
        """How many jobs must finish before this one starts (running ones included); None if
        not waiting here. A job submitted to an engine with a free place has none ahead, though
        its position is 1 until the worker takes it."""
        if job_id in self._running:
            return None
        place = self.position(job_id)
        if place is None:
            return None
        return max(0, len(self._running) + place - self._running_at_once)

    def waiting(self) -> list[Ticket]:
        """Every waiting job, in the order the engine will take them."""
        return self._fair_order()

    def cancel(self, job_id: str) -> bool:
        """Take a waiting job out of line; a running job cannot be taken back."""
        for owner, line in self._lines.items():
            for ticket in line:
                if ticket.job_id == job_id:
                    line.remove(ticket)
                    if not line:
                        self._drop_owner(owner)
                    ticket.done.set_result(JobStatus.CANCELLED)
                    return True
        return False

    def queued_for(self, owner: Hashable) -> int:
        """Jobs the person has waiting or running."""
        running = sum(1 for ticket in self._running.values() if ticket.owner == owner)
        return len(self._lines.get(owner, ())) + running

    # --- working ----------------------------------------------------------------------------

    async def work(self) -> None:
        """Run jobs fairly until cancelled, up to ``running_at_once`` at a time."""
        async with asyncio.TaskGroup() as running:
            while True:
                ticket = self._next() if len(self._running) < self._running_at_once else None
                if ticket is None:
                    # Woken by a new job, or by a running one that finished.
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                self._running[ticket.job_id] = ticket
                running.create_task(self._run(ticket))

    async def _run(self, ticket: Ticket) -> None:
        started, together = time.monotonic(), len(self._running)
        try:
            status = await self._runner.run(ticket.job_id, ticket.on_progress)
        except asyncio.CancelledError:
            ticket.done.cancel()
            raise
        except Exception as error:
            log.exception("running job %s failed", ticket.job_id)
            ticket.done.set_exception(error)
        else:
            ticket.done.set_result(status)
        finally:
            del self._running[ticket.job_id]
            self._wakeup.set()
        # A smoothed time between finished jobs, for the "try again in ..." estimate: jobs that
        # run together finish about together, so each counts for its share of the time.
        seconds = (time.monotonic() - started) / together
        self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * seconds

    # --- inside -----------------------------------------------------------------------------

    def _check_caps(self, owner: Hashable) -> None:
        mine = self.queued_for(owner) + self._reserved.get(owner, 0)
        if mine >= self._per_person_cap:
            raise QueueFull(
                f"You already have {mine} jobs in the queue, the most one person may have. "
                f"Try again when one finishes (about {self._wait_for(1)})."
            )
        everyone = len(self._running) + sum(map(len, self._lines.values()))
        everyone += sum(self._reserved.values())
        if everyone >= self._global_cap:
            raise QueueFull(
                f"The queue is full ({everyone} jobs). "
                f"Try again in {self._wait_for(everyone - self._global_cap + 1)}."
            )

    def _wait_for(self, jobs: int) -> str:
        seconds = max(1, round(jobs * self._seconds_per_job))
        return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min"

    def _enqueue(
        self, job_id: str, owner: Hashable, on_progress: ProgressCallback | None
    ) -> Ticket:
        ticket = Ticket(job_id, owner, on_progress, asyncio.get_running_loop().create_future())
        if owner not in self._lines:
            self._lines[owner] = deque()
            self._turns.append(owner)
        self._lines[owner].append(ticket)
        self._wakeup.set()
        return ticket

    def _next(self) -> Ticket | None:
        if not self._turns:
            return None
        owner = self._turns.popleft()
        line = self._lines[owner]
        ticket = line.popleft()
        if line:
            self._turns.append(owner)
        else:
            del self._lines[owner]
        return ticket

    def _drop_owner(self, owner: Hashable) -> None:
        del self._lines[owner]
        self._turns.remove(owner)

    def _fair_order(self) -> list[Ticket]:
        """The waiting tickets in the order ``_next`` would hand them out."""
        order: list[Ticket] = []
        depth = 0
        while True:
            layer = [self._lines[o][depth] for o in self._turns if len(self._lines[o]) > depth]
            if not layer:
                return order
            order.extend(layer)
            depth += 1
