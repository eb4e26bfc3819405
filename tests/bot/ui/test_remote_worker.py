"""A bot that only accepts and delivers (``pickloop bot --no-worker``), while a worker in
another process runs the jobs: the grid still reaches the person who asked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.core.app import App, open_app
from bot.core.worker import QueueWorker
from bot.ui import PickloopBot
from engine import LocalEngine
from tests.bot.ui.harness import FakeDiscord, Gateway, Person
from tests.bot.ui.test_fairness import queue_notice
from tests.bot.ui.test_imagine import grid_posted, last_edit

ALICE = Person(400_000_000_000_000_001, "alice")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # Every step may be shown, and is looked for in the database often.
    return {"discord_progress_seconds": 0.0, "queue_poll_seconds": 0.05, "max_steps": 200}


@contextlib.asynccontextmanager
async def bot_without_worker(app: App, fake: FakeDiscord) -> AsyncIterator[Gateway]:
    """``pickloop bot --no-worker``: it accepts and delivers, and runs no job."""
    bot = PickloopBot(app, runs_jobs=False)
    await bot.login("test-token")
    gateway = Gateway(bot, fake)
    gateway.ready()
    try:
        yield gateway
    finally:
        await bot.close()


@contextlib.asynccontextmanager
async def worker_elsewhere(settings: Settings, engine: LocalEngine) -> AsyncIterator[QueueWorker]:
    """A worker as another process on the same database has it: it shares nothing in memory
    with the bot, which hears of its jobs from the database alone."""
    async with open_app(settings, engine=engine, run_own_jobs=False) as elsewhere:
        worker = QueueWorker(elsewhere, capacity=1)
        running = asyncio.create_task(worker.work())
        try:
            yield worker
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running


async def test_a_bot_without_a_worker_delivers_what_another_process_ran(
    app: App, fake_discord: FakeDiscord, settings: Settings, local_engine: LocalEngine
) -> None:
    async with bot_without_worker(app, fake_discord) as gateway:
        sent = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 7")
        # Nobody runs jobs yet: the person sees where the job waits.
        notice = await fake_discord.wait_for(lambda: queue_notice(fake_discord, sent))
        assert "Queued: position 1" in notice.json["content"]

        async with worker_elsewhere(settings, local_engine) as worker:
            posted = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
        assert worker.finished_jobs == 1
        assert len(posted.custom_ids) == 9


async def test_the_steps_of_a_job_another_process_runs_are_shown_as_it_runs(
    app: App, fake_discord: FakeDiscord, settings: Settings, local_engine: LocalEngine
) -> None:
    async with bot_without_worker(app, fake_discord) as gateway:
        sent = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 7 --steps 150")
        await fake_discord.wait_for(lambda: queue_notice(fake_discord, sent))
        async with worker_elsewhere(settings, local_engine):
            shown = await fake_discord.wait_for(
                lambda: (
                    (edit := last_edit(fake_discord, sent.token))
                    and "of 150)" in edit.json["content"]
                    and edit
                )
            )
            await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
        assert "% (step " in shown.json["content"]


async def test_a_bot_without_a_worker_says_when_the_engine_elsewhere_is_unavailable(
    app: App, fake_discord: FakeDiscord, settings: Settings
) -> None:
    # A worker drawing through a Ray cluster that is not there (the tests that start one run
    # last): it cannot reach it, and puts the job back.
    pytest.importorskip("ray")
    async with bot_without_worker(app, fake_discord) as gateway:
        sent = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 7")
        notice = await fake_discord.wait_for(lambda: queue_notice(fake_discord, sent))
        job_id = notice.json["content"].rsplit("`", 2)[-2]
        on_cluster = settings.model_copy(update={"engine": "ray"})
        async with open_app(on_cluster, run_own_jobs=False) as elsewhere:
            worker = QueueWorker(elsewhere, capacity=1)
            running = asyncio.create_task(worker.work())
            try:
                told = await fake_discord.wait_for(
                    lambda: (
                        (edit := last_edit(fake_discord, sent.token))
                        and "engine is unavailable" in edit.json["content"]
                        and edit
                    )
                )
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        assert job_id in told.json["content"]
        assert (await app.service.show(job_id)).status == "queued"
        assert worker.finished_jobs == 0
