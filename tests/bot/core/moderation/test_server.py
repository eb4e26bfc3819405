"""Moderation in the core: who may, cancelling queued jobs, blocking and unblocking people."""

from __future__ import annotations

import asyncio

import pytest

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App, open_app
from bot.core.errors import NotFound, PermissionDenied, UserError
from engine import LocalEngine
from storage.models import JobStatus

LISTED_ADMIN = Actor.discord(77, "listed")
MODERATOR = Actor.discord(78, "moderator")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_ids": [LISTED_ADMIN.discord_id]})


def test_the_setting_reads_a_json_list_or_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw in ("[1, 22]", "1, 22", " 1,22,"):
        monkeypatch.setenv("PICKLOOP_ADMIN_IDS", raw)
        assert Settings(_env_file=None).admin_ids == [1, 22]  # type: ignore[call-arg]


def test_who_may_moderate(app: App, alice: Actor) -> None:
    assert app.moderation.may_moderate(LISTED_ADMIN, manages_server=False)
    assert app.moderation.may_moderate(MODERATOR, manages_server=True)
    assert not app.moderation.may_moderate(MODERATOR, manages_server=False)
    assert not app.moderation.may_moderate(alice, manages_server=False)


async def status_of(app: App, job_id: str) -> str:
    return (await app.service.show(job_id)).status


async def test_anyone_else_is_refused_and_nothing_changes(
    app: App, alice: Actor, bob: Actor
) -> None:
    job = await app.service.imagine(bob, "a boat")

    with pytest.raises(PermissionDenied):
        await app.moderation.block(alice, bob, manages_server=False)
    with pytest.raises(PermissionDenied):
        await app.moderation.cancel(alice, job.job_id, manages_server=False)
    with pytest.raises(PermissionDenied):
        await app.moderation.queue(alice, manages_server=False)

    assert await status_of(app, job.job_id) == "queued"
    await app.service.imagine(bob, "still allowed")


async def test_cancel_takes_a_queued_job_out_of_line_and_its_waiter_hears_it(
    settings: Settings, local_engine: LocalEngine, alice: Actor, bob: Actor
) -> None:
    async with open_app(settings, engine=local_engine, run_own_jobs=False) as app:
        first = await app.service.imagine(alice, "first")
        second = await app.service.imagine(bob, "second")
        waiting = asyncio.ensure_future(app.watch.finished(second.job_id))

        listed = await app.moderation.queue(MODERATOR, manages_server=True)
        assert [(job.job_id, job.position, job.owner) for job in listed] == [
            (first.job_id, 1, "alice"),
            (second.job_id, 2, "bob"),
        ]

        await app.moderation.cancel(LISTED_ADMIN, second.job_id, manages_server=False)

        assert await asyncio.wait_for(waiting, 5) is JobStatus.CANCELLED
        assert await app.queue.position(second.job_id) is None
        assert await status_of(app, second.job_id) == "cancelled"
        listed = await app.moderation.queue(MODERATOR, manages_server=True)
        assert [job.job_id for job in listed] == [first.job_id]
        with pytest.raises(UserError, match="cancelled; nothing to cancel"):
            await app.moderation.cancel(MODERATOR, second.job_id, manages_server=True)
        with pytest.raises(NotFound):
            await app.moderation.cancel(MODERATOR, "nosuchjob", manages_server=True)


async def test_a_cancelled_job_is_never_run(app: App, alice: Actor) -> None:
    job = await app.service.imagine(alice, "never")
    await app.moderation.cancel(MODERATOR, job.job_id, manages_server=True)

    assert await app.runner.run(job.job_id) is JobStatus.CANCELLED
    shown = await app.service.show(job.job_id)
    assert shown.status == "cancelled" and shown.images == []


async def test_a_running_job_cannot_be_cancelled(app: App, alice: Actor) -> None:
    job = await app.service.imagine(alice, "slow --steps 30")
    started = asyncio.Event()
    running = asyncio.ensure_future(app.runner.run(job.job_id, lambda _step: started.set()))
    await asyncio.wait_for(started.wait(), 60)

    with pytest.raises(UserError, match="running"):
        await app.moderation.cancel(MODERATOR, job.job_id, manages_server=True)

    assert await running is JobStatus.DONE


async def test_block_cancels_queued_jobs_and_the_service_refuses_them_until_unblocked(
    app: App, alice: Actor, bob: Actor
) -> None:
    queued = await app.service.imagine(bob, "a boat")
    mine = await app.service.imagine(alice, "a car")

    cancelled = await app.moderation.block(MODERATOR, bob, manages_server=True)

    assert cancelled == [queued.job_id]
    assert await status_of(app, queued.job_id) == "cancelled"
    assert await status_of(app, mine.job_id) == "queued"
    with pytest.raises(PermissionDenied):
        await app.service.imagine(bob, "again")
    # Blocking twice is fine.
    assert await app.moderation.block(MODERATOR, bob, manages_server=True) == []

    assert await app.moderation.unblock(MODERATOR, bob, manages_server=True)
    assert not await app.moderation.unblock(MODERATOR, bob, manages_server=True)
    await app.service.imagine(bob, "welcome back")


async def test_someone_never_seen_can_be_blocked_before_they_ask(app: App) -> None:
    stranger = Actor.discord(555, "stranger")
    assert await app.moderation.block(MODERATOR, stranger, manages_server=True) == []
    with pytest.raises(PermissionDenied):
        await app.service.imagine(stranger, "hello")
    with pytest.raises(UserError, match="yourself"):
        await app.moderation.block(MODERATOR, MODERATOR, manages_server=True)
