"""Several ``pickloop worker`` processes on one database (SQLite or PostgreSQL): every job runs
exactly once, a worker killed mid-job loses nothing, and caps hold across processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import open_app
from storage.db import open_database
from storage.models import Image, Job, JobStatus
from tests.bot.conftest import make_settings

pytestmark = pytest.mark.slow

ALICE = Actor.discord(800, "alice")
# Each process gets one core's worth of torch threads: two cores, two workers.
THREADS = "1"


@pytest.fixture
def queue_settings(tmp_path: Path, database_url: str, tiny_model_dir: Path) -> Settings:
    return make_settings(
        tmp_path / "data",
        database_url,
        tiny_model_dir,
        job_lease_seconds=3.0,
        queue_poll_seconds=0.1,
        jobs_at_once=1,
        queue_per_person=3,
        max_steps=200,
    )


def environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PICKLOOP_DATA_DIR": str(settings.data_dir),
        "PICKLOOP_DATABASE_URL": settings.resolved_database_url,
        "PICKLOOP_MODEL": settings.model,
        "PICKLOOP_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
        "PICKLOOP_QUEUE_POLL_SECONDS": str(settings.queue_poll_seconds),
        "PICKLOOP_JOBS_AT_ONCE": "1",
        "PICKLOOP_QUEUE_PER_PERSON": str(settings.queue_per_person),
        "PICKLOOP_MAX_STEPS": str(settings.max_steps),
        "PICKLOOP_TORCH_THREADS": THREADS,
    }


@contextmanager
def workers(settings: Settings, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "worker"],
            env=environment(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stderr is not None:
                process.stderr.close()


async def queue_jobs(settings: Settings, prompts: list[str]) -> list[str]:
    """Jobs written the way the bot writes them: to the shared queue, unclaimed."""
    async with open_app(settings, run_own_jobs=False) as app:
        return [
            (await app.service.imagine(Actor.local(f"person{n % 3}"), prompt)).job_id
            for n, prompt in enumerate(prompts)
        ]


async def jobs_by_id(url: str, job_ids: list[str]) -> dict[str, Job]:
    database = await open_database(url)
    try:
        async with database.sessions() as session:
            rows = await session.execute(select(Job).where(Job.public_id.in_(job_ids)))
            return {job.public_id: job for job in rows.scalars()}
    finally:
        await database.dispose()


async def image_rows(url: str, job_id: str) -> list[tuple[int, str]]:
    database = await open_database(url)
    try:
        async with database.sessions() as session:
            rows = await session.execute(
                select(Image.seed, Image.sha256)
                .join(Job, Image.job_id == Job.id)
                .where(Job.public_id == job_id)
                .order_by(Image.position)
            )
            return [(seed, sha) for seed, sha in rows.all()]
    finally:
        await database.dispose()


def wait_until(check: Callable[[], Awaitable[bool]], what: str, within: float = 240.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if asyncio.run(check()):
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting until {what}")


def test_two_workers_run_every_job_exactly_once(queue_settings: Settings) -> None:
    # A lease long enough that no claim lapses while two workers and the test share two busy
    # cores: a lapsed claim is run again by design (at-least-once), which is not this test's
    # question.
    queue_settings = queue_settings.model_copy(update={"job_lease_seconds": 60.0})
    url = queue_settings.resolved_database_url
    job_ids = asyncio.run(queue_jobs(queue_settings, [f"circle {n} --steps 2" for n in range(8)]))

    async def all_done() -> bool:
        jobs = await jobs_by_id(url, job_ids)
        return all(job.status.finished for job in jobs.values())

    with workers(queue_settings, 2) as started:
        wait_until(all_done, "both workers emptied the queue")
        assert all(process.poll() is None for process in started)

    jobs = asyncio.run(jobs_by_id(url, job_ids))
    assert {job.status for job in jobs.values()} == {JobStatus.DONE}
    assert [job.attempts for job in jobs.values()] == [1] * 8
    for job_id in job_ids:
        assert len(asyncio.run(image_rows(url, job_id))) == 4


def test_a_worker_killed_mid_job_loses_nothing_and_the_other_finishes_it(
    queue_settings: Settings,
) -> None:
    url = queue_settings.resolved_database_url
    [doomed_job] = asyncio.run(queue_jobs(queue_settings, ["a slow one --steps 150 --seed 5"]))

    async def running() -> bool:
        return (await jobs_by_id(url, [doomed_job]))[doomed_job].status is JobStatus.RUNNING

    with workers(queue_settings, 1) as [first]:
        wait_until(running, "the first worker started the job")
        holder = asyncio.run(jobs_by_id(url, [doomed_job]))[doomed_job].claimed_by or ""
        assert f":{first.pid}:" in holder
        with workers(queue_settings, 1):
            first.send_signal(signal.SIGKILL)
            first.wait()
            # The same recipe again, run by the surviving worker: its pixels are the
            # interrupted job's if that one was run again with the same seeds.
            [twin] = asyncio.run(queue_jobs(queue_settings, ["a slow one --steps 150 --seed 5"]))

            async def both_done() -> bool:
                jobs = await jobs_by_id(url, [doomed_job, twin])
                return all(job.status.finished for job in jobs.values())

            wait_until(both_done, "the surviving worker finished both jobs")

    jobs = asyncio.run(jobs_by_id(url, [doomed_job, twin]))
    assert jobs[doomed_job].status is JobStatus.DONE
    assert jobs[doomed_job].attempts == 2
    resumed = asyncio.run(image_rows(url, doomed_job))
    assert [seed for seed, _ in resumed] == [5, 6, 7, 8]
    assert resumed == asyncio.run(image_rows(url, twin))


CAPPED_SUBMITTER = """
import asyncio, sys
from bot.core.app import open_app
from bot.core.jobs.caps import QueueFull
from bot.core.actor import Actor
from bot.config import Settings

async def main() -> None:
    accepted = 0
    async with open_app(Settings(), run_own_jobs=False) as app:
        for n in range(3):
            try:
                await app.service.imagine(Actor.discord(800, "alice"), f"mine {n} --steps 2")
                accepted += 1
            except QueueFull:
                pass
    print(accepted)

asyncio.run(main())
"""


def test_a_persons_cap_holds_across_processes(queue_settings: Settings) -> None:
    url = queue_settings.resolved_database_url
    # Make sure the schema exists before the two processes race.
    asyncio.run(queue_jobs(queue_settings, []))
    submitters = [
        subprocess.Popen(
            [sys.executable, "-c", CAPPED_SUBMITTER],
            env=environment(queue_settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    accepted = []
    for process in submitters:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        accepted.append(int(out.strip().splitlines()[-1]))

    async def unfinished() -> int:
        database = await open_database(url)
        try:
            async with database.sessions() as session:
                return int(await session.scalar(select(func.count()).select_from(Job)) or 0)
        finally:
            await database.dispose()

    assert sum(accepted) == 3
    assert asyncio.run(unfinished()) == 3
