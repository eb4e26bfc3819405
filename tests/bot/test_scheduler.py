"""The fair scheduler with real jobs: turns go round people; caps refuse before any write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.errors import UserError
from bot.people import Actor
from bot.scheduler import FairScheduler, QueueFull, Ticket
from storage.models import Job, JobStatus

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def scheduler(app: App) -> AsyncIterator[FairScheduler]:
    yield FairScheduler(app.runner, per_person_cap=3, global_cap=6)


async def queue(app: App, scheduler: FairScheduler, actor: Actor, text: str) -> Ticket:
    async with scheduler.reserve(actor.identity) as place:
        view = await app.service.imagine(actor, f"{text} --steps 1")
        return place.submit(view.job_id)


async def job_rows(app: App) -> int:
    async with app.database.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Job))).scalar_one())


async def test_turns_go_round_people_not_first_come(app: App, scheduler: FairScheduler) -> None:
    alice, bob, carol = Actor.local("alice"), Actor.local("bob"), Actor.local("carol")
    tickets = {
        "a1": await queue(app, scheduler, alice, "a1"),
        "a2": await queue(app, scheduler, alice, "a2"),
        "a3": await queue(app, scheduler, alice, "a3"),
        "b1": await queue(app, scheduler, bob, "b1"),
        "c1": await queue(app, scheduler, carol, "c1"),
    }
    names = {ticket.job_id: name for name, ticket in tickets.items()}
    assert [names[t.job_id] for t in scheduler.waiting()] == ["a1", "b1", "c1", "a2", "a3"]
    assert scheduler.position(tickets["a2"].job_id) == 4

    finished: list[str] = []
    for name, ticket in tickets.items():
        ticket.done.add_done_callback(lambda _, name=name: finished.append(name))
    worker = asyncio.create_task(scheduler.work())
    try:
        statuses = await asyncio.gather(*(t.done for t in tickets.values()))
    finally:
        worker.cancel()
    assert statuses == [JobStatus.DONE] * 5
    assert finished == ["a1", "b1", "c1", "a2", "a3"]
    assert scheduler.waiting() == [] and scheduler.position(tickets["a1"].job_id) is None


async def test_several_jobs_run_at_once_when_allowed_still_in_fair_turns(app: App) -> None:
    scheduler = FairScheduler(app.runner, per_person_cap=3, global_cap=6, running_at_once=2)
    alice, bob = Actor.local("alice"), Actor.local("bob")
    tickets = {
        "a1": await queue(app, scheduler, alice, "a1"),
        "a2": await queue(app, scheduler, alice, "a2"),
        "b1": await queue(app, scheduler, bob, "b1"),
    }
    worker = asyncio.create_task(scheduler.work())
    try:
        await asyncio.sleep(0)  # the worker takes its first turns
        places = {name: scheduler.position(t.job_id) for name, t in tickets.items()}
        ahead = scheduler.ahead_of(tickets["a2"].job_id)
        statuses = await asyncio.gather(*(t.done for t in tickets.values()))
    finally:
        worker.cancel()

    # Alice's first and Bob's first run together; Alice's second waits for one of them.
    assert places == {"a1": 0, "b1": 0, "a2": 1}
    assert ahead == 1
    assert statuses == [JobStatus.DONE] * 3


def test_a_scheduler_runs_at_least_one_job_at_once(app: App) -> None:
    with pytest.raises(ValueError, match="running_at_once"):
        FairScheduler(app.runner, per_person_cap=3, global_cap=6, running_at_once=0)


async def test_a_person_over_their_cap_is_told_when_to_retry_and_nothing_is_written(
    app: App, scheduler: FairScheduler
) -> None:
    alice = Actor.local("alice")
    for n in range(3):
        await queue(app, scheduler, alice, f"mine {n}")
    before = await job_rows(app)
    with pytest.raises(QueueFull, match=r"already have 3 jobs.*Try again"):
        await queue(app, scheduler, alice, "one too many")
    assert await job_rows(app) == before
    # Others still get in.
    await queue(app, scheduler, Actor.local("bob"), "bob's")


async def test_the_whole_queue_has_a_cap_too(app: App, scheduler: FairScheduler) -> None:
    for person in ("p1", "p2", "p3"):
        for n in range(2):
            await queue(app, scheduler, Actor.local(person), f"{person} {n}")
    with pytest.raises(QueueFull, match=r"queue is full \(6 jobs\)"):
        await queue(app, scheduler, Actor.local("p4"), "late")


async def test_a_refused_prompt_gives_its_place_back(app: App, scheduler: FairScheduler) -> None:
    alice = Actor.local("alice")
    for n in range(2):
        await queue(app, scheduler, alice, f"ok {n}")
    with pytest.raises(UserError):
        await queue(app, scheduler, alice, "bad --steps 0")
    assert scheduler.queued_for(alice.identity) == 2
    await queue(app, scheduler, alice, "third fits")
    assert scheduler.queued_for(alice.identity) == 3


async def test_a_cancelled_job_leaves_the_line_and_never_runs(
    app: App, scheduler: FairScheduler
) -> None:
    alice = Actor.local("alice")
    first = await queue(app, scheduler, alice, "keep")
    second = await queue(app, scheduler, alice, "drop")
    assert scheduler.cancel(second.job_id)
    assert await second.done == JobStatus.CANCELLED
    worker = asyncio.create_task(scheduler.work())
    try:
        assert await first.done == JobStatus.DONE
    finally:
        worker.cancel()
    assert (await app.service.show(second.job_id)).images == []
    assert not scheduler.cancel(first.job_id)


async def test_a_failing_job_does_not_stop_the_line(app: App, scheduler: FairScheduler) -> None:
    alice = Actor.local("alice")
    grid = await queue(app, scheduler, alice, "source")
    worker = asyncio.create_task(scheduler.work())
    try:
        await grid.done
        view = await app.service.show(grid.job_id)
        await asyncio.to_thread(_damage, view.images[0].path)
        async with scheduler.reserve(alice.identity) as place:
            varied = place.submit(
                (await app.service.vary(alice, grid.job_id, 1, strong=True)).job_id
            )
        after = await queue(app, scheduler, alice, "after")
        assert await varied.done == JobStatus.FAILED
        assert await after.done == JobStatus.DONE
    finally:
        worker.cancel()


def _damage(path: str) -> None:
    Path(path).write_bytes(b"broken")
