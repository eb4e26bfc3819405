"""pickloop with PICKLOOP_ENGINE=ray: the Discord flow drawn by the cluster's replicas, and jobs
that wait in the queue while the cluster is down and finish once it is back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

import bot.core.worker as worker_module
from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App, open_app
from bot.core.worker import QueueWorker
from storage.models import Image, Job, JobStatus
from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import FakeDiscord, Person
from tests.bot.ui.test_buttons import job_of, result_of
from tests.bot.ui.test_imagine import grid_posted, last_edit
from tests.fixtures.ray_cluster import LocalCluster

pytest.importorskip("ray.serve")
# What these tests check is the cluster's (replicas lost and back, grids handed over), not the
# queue's database, which the storage and worker tests check on both: SQLite alone keeps CI short.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

ALICE = Person(400_000_000_000_000_001, "alice")
BOB = Person(400_000_000_000_000_002, "bob")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {
        "engine": "ray",
        "discord_progress_seconds": 0.0,
        "queue_poll_seconds": 0.05,
        "max_steps": 400,
    }


@pytest.fixture
async def app(settings: Settings, ray_cluster: LocalCluster) -> AsyncIterator[App]:
    """The bot's process, drawing through the cluster (the engine the settings name)."""
    assert settings.model == ray_cluster.model
    async with open_app(settings, run_own_jobs=False) as opened:
        yield opened


async def test_discord_grids_and_buttons_are_drawn_on_the_cluster(
    start_bot: StartBot, fake_discord: FakeDiscord, app: App
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 5 --steps 6")
    posted = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
    # The replica's steps reached the person's message while it drew.
    shown_steps = [
        call.json["content"]
        for call in fake_discord.calls_for(sent.token)
        if call.method == "PATCH" and "(step " in str((call.json or {}).get("content", ""))
    ]
    assert shown_steps, "no step of the cluster's drawing was shown"
    job_id = posted.custom_ids[0].split(":")[2]
    assert len((await app.service.show(job_id)).images) == 4

    grid = fake_discord.originals[sent.token]
    variation = await result_of(fake_discord, gateway.click(BOB, grid, f"pl:v:{job_id}:2"))
    varied = await app.service.show(job_of(variation))
    assert varied.status == JobStatus.DONE.value and len(varied.images) == 4


async def test_the_bot_says_the_engine_is_unavailable_and_delivers_once_it_is_back(
    start_bot: StartBot,
    fake_discord: FakeDiscord,
    ray_cluster: LocalCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_module, "ENGINE_RETRY_SECONDS", 0.2)
    gateway = await start_bot()
    ray_cluster.stop()
    try:
        sent = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 3 --steps 2")
        told = await fake_discord.wait_for(
            lambda: (
                (edit := last_edit(fake_discord, sent.token))
                and "engine is unavailable" in edit.json["content"]
                and edit
            )
        )
        # The person is told it waits, not which machine could not be reached.
        assert "Ray" not in told.json["content"] and "keeps its place" in told.json["content"]
        # The bot keeps answering meanwhile.
        other = gateway.slash(BOB, "info")
        await fake_discord.wait_for(lambda: last_edit(fake_discord, other.token))
    finally:
        ray_cluster.start()
    posted = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
    assert len(posted.custom_ids) == 9


async def test_a_replica_killed_mid_grid_hands_the_grid_to_the_other(
    app: App, ray_cluster: LocalCluster
) -> None:
    import ray

    from engine.ray_serve.cluster import replica_reports

    asker = Actor.discord(700, "cho")
    job = (await app.service.imagine(asker, "a green star --steps 400 --seed 9")).job_id
    worker = QueueWorker(app, capacity=1)
    working = asyncio.create_task(worker.work())
    try:
        drawing = None
        while drawing is None:
            reports = await asyncio.to_thread(replica_reports)
            drawing = next(
                (
                    actor
                    for actor, report in reports.get(ray_cluster.application, [])
                    if report["ongoing"]
                ),
                None,
            )
        # The replica dies mid-grid, as one whose machine went away or ran out of memory.
        ray.kill(drawing)
        assert await app.watch.finished(job) == JobStatus.DONE
    finally:
        working.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await working
    shown = await app.service.show(job)
    assert len(shown.images) == 4 and all(Path(image.path).is_file() for image in shown.images)
    async with app.database.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(Image))
    assert rows == 4  # one set, though it was drawn twice
    # Serve starts a replica in the dead one's place, for the tests after this one.
    while len((await asyncio.to_thread(replica_reports)).get(ray_cluster.application, [])) < 2:  # noqa: ASYNC110
        await asyncio.sleep(0.5)


async def test_jobs_wait_in_the_queue_while_the_cluster_is_down_and_run_once_it_is_back(
    app: App, ray_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "ENGINE_RETRY_SECONDS", 0.2)
    people = [Actor.discord(600 + n, name) for n, name in enumerate(("ann", "ben"))]
    ray_cluster.stop()
    try:
        jobs = [
            (await app.service.imagine(person, "a blue square --steps 2")).job_id
            for person in people
        ]
        worker = QueueWorker(app, capacity=2)
        working = asyncio.create_task(worker.work())
        # The worker tried, found no engine, and put the jobs back where they were.
        await worker.claimed_round()
        while worker.busy:  # noqa: ASYNC110 - the worker announces no such moment
            await asyncio.sleep(0.05)
        assert [await status_of(app, job) for job in jobs] == ["queued", "queued"]
        assert await attempts(app, jobs) == 0
    finally:
        ray_cluster.start()
    try:
        statuses = [await app.watch.finished(job) for job in jobs]
    finally:
        working.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await working
    assert statuses == [JobStatus.DONE, JobStatus.DONE]
    # One set of pictures each, however many times the worker tried.
    async with app.database.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(Image))
    assert rows == 8
    assert worker.finished_jobs == 2


async def status_of(app: App, job_id: str) -> str:
    return (await app.service.show(job_id)).status


async def attempts(app: App, job_ids: list[str]) -> int:
    async with app.database.sessions() as session:
        counted = await session.scalar(
            select(func.sum(Job.attempts)).where(Job.public_id.in_(job_ids))
        )
    return int(counted or 0)
