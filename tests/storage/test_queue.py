"""The job queue in the database: fair claims, exclusive claims, sweeps of dead holders, caps."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from storage import Database, Job, JobKind, JobStatus, ModelVersion, Origin, User, utcnow
from storage.ids import new_public_id
from storage.parameters import JobParameters
from storage.queue import (
    GAVE_UP,
    MAX_ATTEMPTS,
    Caps,
    JobQueue,
    hold_caps_lock,
    over_cap,
    writing,
)

LEASE = 30.0


def nobody_is_gone(_holder: str) -> bool:
    return False


async def people(database: Database, *names: str) -> dict[str, int]:
    async with database.sessions.begin() as session:
        users = [User(local_name=name, display_name=name) for name in names]
        session.add_all(users)
        await session.flush()
        return {user.local_name or "": user.id for user in users}


async def queue_job(database: Database, owner: int, prompt: str) -> str:
    """A waiting job, as a front end writes it: unclaimed."""
    async with database.sessions.begin() as session:
        version = (await session.execute(select(ModelVersion))).scalars().first()
        if version is None:
            version = ModelVersion(name="m", base_model="m", serving=True)
            session.add(version)
            await session.flush()
        job = Job(
            public_id=new_public_id(),
            owner_id=owner,
            kind=JobKind.IMAGINE,
            prompt=prompt,
            parameters=JobParameters(width=64, height=64, steps=2, guidance=7.5, count=4),
            base_seed=1,
            model_version_id=version.id,
            origin=Origin.CLI,
        )
        session.add(job)
    return job.public_id


async def start(database: Database, job_id: str) -> None:
    """What a worker does with a claimed job: it starts running (its owner was served)."""
    async with database.sessions.begin() as session:
        await session.execute(
            update(Job)
            .where(Job.public_id == job_id)
            .values(status=JobStatus.RUNNING, started_at=utcnow(), attempts=Job.attempts + 1)
        )


async def finish(database: Database, job_id: str) -> None:
    async with database.sessions.begin() as session:
        await session.execute(
            update(Job)
            .where(Job.public_id == job_id)
            .values(status=JobStatus.DONE, finished_at=utcnow(), claimed_by=None)
        )


async def row(database: Database, job_id: str) -> Job:
    async with database.sessions() as session:
        return (await session.execute(select(Job).where(Job.public_id == job_id))).scalar_one()


async def test_claims_go_round_owners_oldest_first_within_each(database: Database) -> None:
    ids = await people(database, "alice", "bob", "carol")
    names: dict[str, str] = {}
    for name, owner in [("a1", "alice"), ("a2", "alice"), ("a3", "alice"), ("b1", "bob")]:
        names[await queue_job(database, ids[owner], name)] = name
    names[await queue_job(database, ids["carol"], "c1")] = "c1"
    queue = JobQueue(database, LEASE)

    assert [names[j] for j in await queue.waiting_order()] == ["a1", "b1", "c1", "a2", "a3"]
    claimed = []
    while (job_id := await queue.claim_next("worker-1")) is not None:
        await start(database, job_id)
        claimed.append(names[job_id])
    assert claimed == ["a1", "b1", "c1", "a2", "a3"]
    assert await queue.waiting_order() == []


async def test_someone_just_served_waits_behind_people_already_waiting(
    database: Database,
) -> None:
    ids = await people(database, "alice", "bob")
    first = await queue_job(database, ids["alice"], "a1")
    queue = JobQueue(database, LEASE)
    assert await queue.claim_next("w") == first
    await start(database, first)
    # Bob asked while Alice's first job ran; Alice asks again after him.
    bob = await queue_job(database, ids["bob"], "b1")
    alice_again = await queue_job(database, ids["alice"], "a2")
    assert await queue.waiting_order() == [bob, alice_again]
    assert await queue.position(alice_again) == 2
    assert await queue.position(first) is None


async def test_claimers_racing_take_every_job_exactly_once(database: Database) -> None:
    ids = await people(database, "alice", "bob")
    jobs = {await queue_job(database, ids[o], f"{o}{n}") for o in ids for n in range(6)}
    queue = JobQueue(database, LEASE)

    async def claim_all(worker: str) -> list[str]:
        taken = []
        while (job_id := await queue.claim_next(worker)) is not None:
            taken.append(job_id)
        return taken

    results = await asyncio.gather(*(claim_all(f"worker-{n}") for n in range(4)))
    every = [job_id for taken in results for job_id in taken]
    assert sorted(every) == sorted(jobs)
    for job_id in jobs:
        holder = (await row(database, job_id)).claimed_by
        assert holder is not None
        assert sum(job_id in taken for taken in results) == 1
        assert job_id in results[int(holder.split("-")[1])]


async def test_a_job_claimed_by_id_is_not_claimed_again(database: Database) -> None:
    ids = await people(database, "alice")
    job_id = await queue_job(database, ids["alice"], "mine")
    queue = JobQueue(database, LEASE)
    assert await queue.claim(job_id, "cli")
    assert not await queue.claim(job_id, "bot")
    assert await queue.claim_next("bot") is None
    assert (await row(database, job_id)).claimed_by == "cli"


async def test_a_sweep_hands_back_lapsed_claims_and_leaves_live_ones(database: Database) -> None:
    ids = await people(database, "alice")
    lapsed_id = await queue_job(database, ids["alice"], "lapsed")
    live_id = await queue_job(database, ids["alice"], "live")
    short = JobQueue(database, lease_seconds=0.05)
    assert await short.claim(lapsed_id, "dead-worker")
    await start(database, lapsed_id)
    assert await JobQueue(database, LEASE).claim(live_id, "live-worker")
    await asyncio.sleep(0.1)

    swept = await JobQueue(database, LEASE).sweep("sweeper", nobody_is_gone)

    assert swept.released == [lapsed_id] and swept.given_up == []
    back = await row(database, lapsed_id)
    assert (back.status, back.claimed_by, back.attempts) == (JobStatus.QUEUED, None, 1)
    assert (await row(database, live_id)).claimed_by == "live-worker"
    assert await JobQueue(database, LEASE).claim_next("sweeper") == lapsed_id


async def test_a_holder_known_to_be_gone_loses_its_claim_before_the_lease_ends(
    database: Database,
) -> None:
    ids = await people(database, "alice")
    job_id = await queue_job(database, ids["alice"], "orphan")
    queue = JobQueue(database, LEASE)
    assert await queue.claim(job_id, "gone-worker")
    swept = await queue.sweep("sweeper", lambda holder: holder == "gone-worker")
    assert swept.released == [job_id]


async def test_a_job_that_stopped_its_worker_too_often_is_failed_with_the_reason(
    database: Database,
) -> None:
    ids = await people(database, "alice")
    job_id = await queue_job(database, ids["alice"], "poison")
    queue = JobQueue(database, LEASE)
    for attempt in range(MAX_ATTEMPTS):
        assert await queue.claim(job_id, f"worker-{attempt}")
        await start(database, job_id)
        swept = await queue.sweep("sweeper", lambda _holder: True)
    assert swept.given_up == [job_id]
    failed = await row(database, job_id)
    assert (failed.status, failed.error, failed.claimed_by) == (JobStatus.FAILED, GAVE_UP, None)
    assert await queue.claim_next("sweeper") is None


async def test_caps_count_unfinished_jobs_per_owner_and_in_all(database: Database) -> None:
    ids = await people(database, "alice", "bob")
    caps = Caps(per_owner=2, total=3)
    for _ in range(2):
        await queue_job(database, ids["alice"], "a")
    async with writing(database) as session:
        await hold_caps_lock(session)
        alice = await over_cap(session, ids["alice"], caps)
        bob = await over_cap(session, ids["bob"], caps)
    assert alice is not None and alice.owner_has == 2 and alice.everyone_has is None
    assert bob is None
    bobs = await queue_job(database, ids["bob"], "b")
    async with writing(database) as session:
        full = await over_cap(session, ids["bob"], caps)
    assert full is not None and full.everyone_has == 3 and full.owner_has is None
    # A finished job no longer counts.
    await finish(database, bobs)
    async with writing(database) as session:
        assert await over_cap(session, ids["bob"], caps) is None


async def test_lapsed_leases_are_renewed_only_for_their_holder(database: Database) -> None:
    ids = await people(database, "alice")
    job_id = await queue_job(database, ids["alice"], "kept")
    queue = JobQueue(database, LEASE)
    assert await queue.claim(job_id, "holder")
    async with database.sessions.begin() as session:
        await session.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert await queue.renew("someone-else") == 0
    assert await queue.renew("holder") == 1
    assert (await queue.sweep("sweeper", nobody_is_gone)).released == []
