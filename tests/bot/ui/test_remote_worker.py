"""A bot that only accepts and delivers (``pickloop bot --no-worker``), while a worker in
another process runs the jobs: the grid still reaches the person who asked."""

from __future__ import annotations

import asyncio
import contextlib

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


async def test_a_bot_without_a_worker_delivers_what_another_process_ran(
    app: App, fake_discord: FakeDiscord, settings: Settings, local_engine: LocalEngine
) -> None:
    bot = PickloopBot(app, runs_jobs=False)
    await bot.login("test-token")
    gateway = Gateway(bot, fake_discord)
    gateway.ready()
    try:
        sent = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 7")
        # Nobody runs jobs yet: the person sees where the job waits.
        notice = await fake_discord.wait_for(lambda: queue_notice(fake_discord, sent))
        assert "Queued: position 1" in notice.json["content"]

        # The worker is another process on the same database: it shares nothing in memory
        # with the bot, which hears of the finished job from the database alone.
        async with open_app(settings, engine=local_engine, run_own_jobs=False) as elsewhere:
            worker = QueueWorker(elsewhere, capacity=1)
            running = asyncio.create_task(worker.work())
            try:
                posted = await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        assert worker.finished_jobs == 1
        assert len(posted.custom_ids) == 9
    finally:
        await bot.close()


async def test_the_steps_of_a_job_another_process_runs_are_shown_as_it_runs(
    app: App, fake_discord: FakeDiscord, settings: Settings, local_engine: LocalEngine
) -> None:
    bot = PickloopBot(app, runs_jobs=False)
    await bot.login("test-token")
    gateway = Gateway(bot, fake_discord)
    gateway.ready()
    try:
        sent = gateway.slash(ALICE, "imagine", prompt="a red circle --seed 7 --steps 150")
        await fake_discord.wait_for(lambda: queue_notice(fake_discord, sent))
        async with open_app(settings, engine=local_engine, run_own_jobs=False) as elsewhere:
            running = asyncio.create_task(QueueWorker(elsewhere, capacity=1).work())
            try:
                shown = await fake_discord.wait_for(
                    lambda: (
                        (edit := last_edit(fake_discord, sent.token))
                        and "of 150)" in edit.json["content"]
                        and edit
                    )
                )
                await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        assert "% (step " in shown.json["content"]
    finally:
        await bot.close()
