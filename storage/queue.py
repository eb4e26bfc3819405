"""The job queue: rows of the ``jobs`` table, shared by every pickloop process that opens the
database (the bot, ``pickloop worker``, the CLI).

The queue's contract (docs/architecture.md has it whole):

- A job is written unclaimed (``claimed_by`` NULL, status queued), or already claimed by the
  process that wrote it when that process runs it itself (a CLI command that waits).
- A process with room claims the next job atomically, in fair order: round-robin between
  owners, oldest first within an owner. On PostgreSQL the claimed row is locked with
  ``FOR UPDATE SKIP LOCKED``, so claimers never wait for each other; on SQLite the whole
  claim runs in one ``BEGIN IMMEDIATE`` transaction, which the database serialises.
- A claim is a lease. Its holder renews it while it works; a periodic sweep by any process
  hands the jobs of dead holders back to the queue, and fails a job that has taken its worker
  down ``MAX_ATTEMPTS`` times.
- Caps (per owner, in all) are counted in the transaction that writes the job, under a lock
  that every writer of the queue takes, so they hold across processes.

It knows nothing of engines or Discord: running a claimed job is the application's business.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, rows_changed
from storage.models import Job, JobKind, JobStatus, utcnow

UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
# A job whose worker died this many times is failing for a reason a retry will not fix
# (an out-of-memory kill, say); it is failed instead of taking the next worker down too.
MAX_ATTEMPTS = 3
GAVE_UP = f"Gave up after {MAX_ATTEMPTS} attempts: the worker stopped each time."
# PostgreSQL: one channel for every change a waiting process may care about.
CHANNEL = "pickloop_jobs"
# PostgreSQL: the advisory lock every transaction that adds to the queue under caps holds.
_CAPS_LOCK = 0x7069636B  # "pick"


@dataclass(frozen=True)
class Swept:
    """What one sweep did: jobs handed back to the queue, and jobs given up on."""

    released: list[str]
    given_up: list[str]


@dataclass(frozen=True)
class Caps:
    """How many unfinished jobs one owner, and everyone together, may have."""

    per_owner: int
    total: int


@dataclass(frozen=True)
class OverCap:
    """Which cap a new job would break, and how full the queue is."""

    owner_has: int | None  # set when the owner's cap is reached
    everyone_has: int | None  # set when the total cap is reached


WAITING: ColumnElement[bool] = (Job.status == JobStatus.QUEUED) & Job.claimed_by.is_(None)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


@contextlib.asynccontextmanager
async def writing(database: Database) -> AsyncIterator[AsyncSession]:
    """A transaction that holds the database's write lock from its first statement.

    SQLite's driver starts a transaction only at the first write, so counting rows and then
    writing would let another process write in between; BEGIN IMMEDIATE takes the lock at
    once. PostgreSQL's row locks and advisory locks do that job there.
    """
    async with database.sessions.begin() as session:
        if database.engine.dialect.name == "sqlite":
            await session.execute(text("BEGIN IMMEDIATE"))
        yield session


async def hold_caps_lock(session: AsyncSession) -> None:
    """Serialise writers that check caps: on PostgreSQL an advisory lock for the transaction;
    on SQLite the transaction already holds the write lock (see ``writing``)."""
    if _dialect(session) == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_CAPS_LOCK)))


async def over_cap(session: AsyncSession, owner_id: int, caps: Caps) -> OverCap | None:
    """Whether one more job for ``owner_id`` would break a cap; call under the caps lock."""
    unfinished = Job.status.in_(UNFINISHED)
    mine = await session.scalar(
        select(func.count()).select_from(Job).where(unfinished, Job.owner_id == owner_id)
    )
    everyone = await session.scalar(select(func.count()).select_from(Job).where(unfinished))
    owner_has = int(mine or 0) if int(mine or 0) >= caps.per_owner else None
    everyone_has = int(everyone or 0) if int(everyone or 0) >= caps.total else None
    if owner_has is None and everyone_has is None:
        return None
    return OverCap(owner_has=owner_has, everyone_has=everyone_has)


async def announce(session: AsyncSession, job_id: str) -> None:
    """Tell waiting processes that a job was queued or finished (PostgreSQL NOTIFY, sent when
    the transaction commits); on SQLite they poll."""
    if _dialect(session) == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, job_id)))


class JobQueue:
    def __init__(self, database: Database, lease_seconds: float) -> None:
        self._database = database
        self._lease = timedelta(seconds=lease_seconds)

    @property
    def lease_seconds(self) -> float:
        return self._lease.total_seconds()

    async def claim_next(
        self, worker_id: str, kinds: Collection[JobKind] | None = None
    ) -> str | None:
        """Claim the next waiting job in fair order for ``worker_id``; None when none waits.

        ``kinds`` limits the claim to jobs this worker can run.
        """
        async with writing(self._database) as session:
            postgres = _dialect(session) == "postgresql"
            for owner in await _owners_in_turn(session, kinds):
                candidate = await _oldest_waiting(session, owner, kinds)
                if candidate is None:
                    continue
                if postgres:
                    locked = await session.scalar(
                        select(Job.id)
                        .where(Job.id == candidate, WAITING)
                        .with_for_update(skip_locked=True)
                    )
                    if locked is None:
                        # Another process is claiming it right now: the next owner's turn.
                        continue
                public_id = await self._take(session, Job.id == candidate, worker_id)
                if public_id is not None:
                    return public_id
        return None

    async def claim(self, job_id: str, worker_id: str) -> bool:
        """Claim one waiting job by id (the CLI running a job it asked for); False when
        another process has it already, or it is not waiting."""
        async with writing(self._database) as session:
            return await self._take(session, Job.public_id == job_id, worker_id) is not None

    async def release(self, job_id: str, worker_id: str) -> bool:
        """Hand a job this worker claimed but will not run back to the queue."""
        async with self._database.sessions.begin() as session:
            result = await session.execute(
                update(Job)
                .where(
                    Job.public_id == job_id,
                    Job.claimed_by == worker_id,
                    Job.status.in_(UNFINISHED),
                )
                .values(claimed_by=None, lease_expires_at=None, status=JobStatus.QUEUED)
            )
            if rows_changed(result):
                await announce(session, job_id)
            return bool(rows_changed(result))

    async def renew(self, worker_id: str) -> int:
        """Extend the lease of every unfinished job ``worker_id`` holds; returns how many."""
        async with self._database.sessions.begin() as session:
            result = await session.execute(
                update(Job)
                .where(Job.claimed_by == worker_id, Job.status.in_(UNFINISHED))
                .values(lease_expires_at=utcnow() + self._lease)
            )
            return rows_changed(result)

    async def record_progress(self, job_id: str, worker_id: str, step: int, total: int) -> None:
        """Note the steps a job ``worker_id`` runs has done (see ``Job.progress_step``)."""
        async with self._database.sessions.begin() as session:
            await session.execute(
                update(Job)
                .where(
                    Job.public_id == job_id,
                    Job.claimed_by == worker_id,
                    Job.status == JobStatus.RUNNING,
                )
                .values(progress_step=step, progress_total=total)
            )

    async def sweep(self, worker_id: str, holder_is_gone: Callable[[str], bool]) -> Swept:
        """Hand back to the queue the jobs of holders that died: their lease lapsed, or
        ``holder_is_gone`` knows their process ended. A job that was started
        ``MAX_ATTEMPTS`` times already is failed instead, with the reason."""
        now = utcnow()
        async with self._database.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Job.id, Job.public_id, Job.claimed_by, Job.lease_expires_at, Job.attempts
                    )
                    .where(Job.status.in_(UNFINISHED), Job.claimed_by.is_not(None))
                    .where(Job.claimed_by != worker_id)
                    .order_by(Job.created_at, Job.id)
                )
            ).all()
        released: list[str] = []
        given_up: list[str] = []
        for row in rows:
            lapsed = row.lease_expires_at is None or row.lease_expires_at < now
            if not (lapsed or holder_is_gone(row.claimed_by)):
                continue
            if row.attempts >= MAX_ATTEMPTS:
                if await self._give_up(row.id, row.claimed_by):
                    given_up.append(row.public_id)
            elif await self._hand_back(row.id, row.claimed_by):
                released.append(row.public_id)
        return Swept(released=released, given_up=given_up)

    async def waiting_order(self) -> list[str]:
        """Every waiting job, in the order the queue hands them out (the first is next)."""
        async with self._database.sessions() as session:
            return await fair_order(session)

    async def position(self, job_id: str) -> int | None:
        """1 for the next job to be claimed, and so on; None when the job is not waiting."""
        order = await self.waiting_order()
        return order.index(job_id) + 1 if job_id in order else None

    # --- inside -------------------------------------------------------------------------

    async def _take(
        self, session: AsyncSession, which: ColumnElement[bool], worker_id: str
    ) -> str | None:
        # Compare-and-set on "still waiting": of two claimers, exactly one changes the row.
        # The claim counts as the owner's turn (``started_at``) at once, so the next claim,
        # here or elsewhere, goes to someone else even before this job starts running.
        now = utcnow()
        result = await session.execute(
            update(Job)
            .where(which, WAITING)
            .values(claimed_by=worker_id, lease_expires_at=now + self._lease, started_at=now)
            .returning(Job.public_id)
        )
        return result.scalar_one_or_none()

    async def _hand_back(self, row_id: int, holder: str) -> bool:
        return await self._end_claim(
            row_id, holder, claimed_by=None, lease_expires_at=None, status=JobStatus.QUEUED
        )

    async def _give_up(self, row_id: int, holder: str) -> bool:
        return await self._end_claim(
            row_id,
            holder,
            status=JobStatus.FAILED,
            error=GAVE_UP,
            finished_at=utcnow(),
            claimed_by=None,
            lease_expires_at=None,
        )

    async def _end_claim(self, row_id: int, holder: str, **values: object) -> bool:
        """Compare-and-set on the claim a sweep saw: of two sweepers, one acts."""
        async with self._database.sessions.begin() as session:
            result = await session.execute(
                update(Job)
                .where(Job.id == row_id, Job.claimed_by == holder, Job.status.in_(UNFINISHED))
                .values(**values)
                .returning(Job.public_id)
            )
            public_id = result.scalar_one_or_none()
            if public_id is not None:
                await announce(session, public_id)
            return public_id is not None


@dataclass(frozen=True)
class _Waiting:
    row_id: int
    public_id: str
    owner_id: int
    created_at: datetime


async def _waiting_jobs(
    session: AsyncSession, kinds: Collection[JobKind] | None = None
) -> list[_Waiting]:
    query = select(Job.id, Job.public_id, Job.owner_id, Job.created_at).where(_waiting_of(kinds))
    rows = await session.execute(query.order_by(Job.created_at, Job.id))
    return [_Waiting(row.id, row.public_id, row.owner_id, row.created_at) for row in rows]


async def _last_served(session: AsyncSession, owners: Sequence[int]) -> dict[int, datetime]:
    """When each owner's latest job was started: the turn they last had."""
    if not owners:
        return {}
    rows = await session.execute(
        select(Job.owner_id, func.max(Job.started_at))
        .where(Job.owner_id.in_(sorted(set(owners))), Job.started_at.is_not(None))
        .group_by(Job.owner_id)
    )
    return {owner: started for owner, started in rows.all() if started is not None}


def _turn(joined: datetime, last_served: datetime | None) -> datetime:
    """When an owner's turn comes round: an owner joins the round when their oldest waiting
    job arrived, or when they were last served, whichever is later. So a newcomer waits
    behind people already waiting, and someone just served goes to the back."""
    return joined if last_served is None else max(joined, last_served)


def _in_turns(waiting: Sequence[_Waiting], served: dict[int, datetime]) -> list[_Waiting]:
    """Every waiting job in the order claims hand them out: round-robin between owners, the
    owner whose turn came longest ago first; within an owner, oldest first."""
    lines: dict[int, list[_Waiting]] = {}
    for job in waiting:
        lines.setdefault(job.owner_id, []).append(job)
    # (0, real moment) sorts before (1, n): turns handed out in this simulation come after
    # every turn that really happened.
    turn: dict[int, tuple[int, float, int]] = {
        owner: (0, _turn(line[0].created_at, served.get(owner)).timestamp(), line[0].row_id)
        for owner, line in lines.items()
    }
    order: list[_Waiting] = []
    while turn:
        owner = min(turn, key=turn.__getitem__)
        order.append(lines[owner].pop(0))
        if lines[owner]:
            turn[owner] = (1, float(len(order)), 0)
        else:
            del turn[owner]
    return order


async def fair_order(session: AsyncSession) -> list[str]:
    """The public ids of the waiting jobs, in the order the queue hands them out."""
    waiting = await _waiting_jobs(session)
    served = await _last_served(session, [job.owner_id for job in waiting])
    return [job.public_id for job in _in_turns(waiting, served)]


async def _owners_in_turn(session: AsyncSession, kinds: Collection[JobKind] | None) -> list[int]:
    """The owners with waiting jobs, whose turn comes first first. Read per owner, not per
    job, so a long queue costs a claim little more than a short one."""
    query = select(Job.owner_id, func.min(Job.created_at), func.min(Job.id)).where(
        _waiting_of(kinds)
    )
    owners = (await session.execute(query.group_by(Job.owner_id))).all()
    served = await _last_served(session, [owner for owner, _, _ in owners])
    turns = sorted(owners, key=lambda row: (_turn(row[1], served.get(row[0])), row[2]))
    return [owner for owner, _, _ in turns]


async def _oldest_waiting(
    session: AsyncSession, owner: int, kinds: Collection[JobKind] | None
) -> int | None:
    query = select(Job.id).where(_waiting_of(kinds), Job.owner_id == owner)
    return await session.scalar(query.order_by(Job.created_at, Job.id).limit(1))


def _waiting_of(kinds: Collection[JobKind] | None) -> ColumnElement[bool]:
    return WAITING if kinds is None else WAITING & Job.kind.in_(sorted(kinds))


async def recent_seconds_per_job(session: AsyncSession, jobs: int = 20) -> float | None:
    """How long the latest finished jobs took between start and end, on average, divided by
    how many run at once now (jobs running together finish about together); None before any
    job finished."""
    rows = (
        await session.execute(
            select(Job.started_at, Job.finished_at)
            .where(Job.status == JobStatus.DONE, Job.started_at.is_not(None))
            .order_by(Job.finished_at.desc())
            .limit(jobs)
        )
    ).all()
    spans = [
        (finished - started).total_seconds()
        for started, finished in rows
        if started is not None and finished is not None
    ]
    if not spans:
        return None
    running = await session.scalar(
        select(func.count()).select_from(Job).where(Job.status == JobStatus.RUNNING)
    )
    return sum(spans) / len(spans) / max(1, int(running or 0))


__all__ = [
    "CHANNEL",
    "GAVE_UP",
    "MAX_ATTEMPTS",
    "UNFINISHED",
    "WAITING",
    "Caps",
    "JobQueue",
    "OverCap",
    "Swept",
    "announce",
    "fair_order",
    "hold_caps_lock",
    "over_cap",
    "recent_seconds_per_job",
    "writing",
]
