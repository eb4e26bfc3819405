"""The job service end to end: prompt → stored grid → clicks → derived jobs and events."""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path

import PIL.Image
import pytest
from sqlalchemy import event, func, select

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App, open_app
from bot.core.errors import NotFound, PermissionDenied, UserError
from bot.core.jobs.job_view import JobView
from bot.core.jobs.processes import worker_is_gone
from bot.core.jobs.prompt import PromptError
from engine import LocalEngine
from storage.models import Event, EventKind, Image, Job, JobStatus, User
from tests.bot.conftest import make_settings

pytestmark = pytest.mark.asyncio


async def make(app: App, job: JobView) -> JobView:
    await app.runner.run(job.job_id)
    return await app.service.show(job.job_id)


async def count(app: App, model: type) -> int:
    async with app.database.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def events(app: App) -> list[Event]:
    async with app.database.sessions() as session:
        return list((await session.execute(select(Event).order_by(Event.id))).scalars().all())


def file_matches(path: str, sha256: str) -> bool:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha256


async def test_imagine_stores_a_grid_of_four_reproducible_images(app: App, alice: Actor) -> None:
    queued = await app.service.imagine(alice, "a lighthouse at dusk --seed 1234")
    assert queued.status == "queued"
    job = await make(app, queued)

    assert job.status == "done"
    assert job.seeds == [1234, 1235, 1236, 1237]
    assert [image.seed for image in job.images] == job.seeds
    assert [image.index for image in job.images] == [1, 2, 3, 4]
    for image in job.images:
        assert file_matches(image.path, image.sha256)
        with PIL.Image.open(image.path) as opened:
            assert opened.size == (job.parameters.width, job.parameters.height)
    assert job.grid_path is not None
    with PIL.Image.open(job.grid_path) as grid:
        assert grid.width >= 2 * job.parameters.width
        assert grid.height >= 2 * job.parameters.height
    assert await count(app, Event) == 0


async def test_the_same_seed_draws_the_same_images(app: App, alice: Actor) -> None:
    first = await make(app, await app.service.imagine(alice, "a red circle --seed 77"))
    again = await make(app, await app.service.imagine(alice, "a red circle --seed 77"))
    other = await make(app, await app.service.imagine(alice, "a red circle --seed 78"))
    assert [i.sha256 for i in first.images] == [i.sha256 for i in again.images]
    # Seed 78 is image 2 of the seed-77 grid: any image can be made again alone.
    assert other.images[0].sha256 == first.images[1].sha256
    assert len({i.sha256 for i in first.images}) == 4


async def test_a_seeded_service_draws_the_same_new_seeds_every_time(
    tmp_path: Path,
    database_url: str,
    tiny_model_dir: Path,
    local_engine: LocalEngine,
    alice: Actor,
) -> None:
    """A scripted session (the loop demo) seeds the service: a prompt without --seed and a
    re-roll then get the same seeds in every run, and an unseeded service does not."""

    async def session(name: str, chance: random.Random | None) -> list[list[int]]:
        settings = make_settings(tmp_path / name, database_url, tiny_model_dir)
        async with open_app(settings, engine=local_engine, chance=chance) as app:
            grid = await make(app, await app.service.imagine(alice, "a red circle --steps 2"))
            rerolled = await make(app, await app.service.reroll(alice, grid.job_id))
            return [grid.seeds, rerolled.seeds]

    first = await session("first", random.Random("demo"))
    again = await session("again", random.Random("demo"))
    unseeded = await session("unseeded", None)
    assert first == again
    assert first[0] != first[1]
    assert unseeded[0] != first[0] and unseeded[1] != first[1]


async def test_imagine_upscale_vary_reroll_leave_jobs_images_files_and_events(
    app: App, alice: Actor, bob: Actor
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a blue square --ar 3:2 --steps 2"))
    assert (grid.parameters.width, grid.parameters.height) != (64, 64)

    upscaled = await make(app, await app.service.upscale(bob, grid.job_id, 2))
    assert upscaled.kind == "upscale" and upscaled.status == "done"
    assert upscaled.owner == "bob"
    assert upscaled.parent_job_id == grid.job_id
    assert upscaled.parent_image_id == grid.images[1].id
    [big] = upscaled.images
    assert (big.width, big.height) == (2 * grid.images[1].width, 2 * grid.images[1].height)
    assert file_matches(big.path, big.sha256)

    varied = await make(app, await app.service.vary(alice, grid.job_id, 3, strong=False))
    assert varied.kind == "variation" and len(varied.images) == 4
    assert varied.parent_image_id == grid.images[2].id
    assert varied.parameters.strength == pytest.approx(0.5)
    assert varied.parameters.chaos == 60
    assert (varied.images[0].width, varied.images[0].height) == (
        grid.images[0].width,
        grid.images[0].height,
    )
    assert not {i.sha256 for i in varied.images} & {i.sha256 for i in grid.images}

    rerolled = await make(app, await app.service.reroll(bob, varied.job_id))
    assert rerolled.kind == "reroll" and len(rerolled.images) == 4
    assert rerolled.parent_job_id == varied.job_id
    # Re-rolling a variation grid varies the same source image again, with new seeds.
    assert rerolled.parent_image_id == grid.images[2].id
    assert rerolled.seeds != varied.seeds

    recorded = await events(app)
    assert [(e.kind, e.position) for e in recorded] == [
        (EventKind.UPSCALE, 1),
        (EventKind.VARY_SUBTLE, 2),
        (EventKind.REROLL, None),
    ]
    async with app.database.sessions() as session:
        users = {u.id: u.local_name for u in (await session.execute(select(User))).scalars()}
        jobs = {j.id: j.public_id for j in (await session.execute(select(Job))).scalars()}
    assert [users[e.user_id] for e in recorded] == ["bob", "alice", "bob"]
    assert [jobs[e.job_id] for e in recorded] == [grid.job_id, grid.job_id, varied.job_id]
    assert [jobs[e.result_job_id] for e in recorded if e.result_job_id] == [
        upscaled.job_id,
        varied.job_id,
        rerolled.job_id,
    ]
    assert await count(app, Job) == 4
    assert await count(app, Image) == 4 + 1 + 4 + 4


async def test_a_strong_variation_redraws_more_than_a_subtle_one(app: App, alice: Actor) -> None:
    # The random embedded model keeps too little of any image for a pixel-distance check; the
    # progress a person watches shows how much of the image each variation redraws.
    grid = await make(app, await app.service.imagine(alice, "a green star --seed 5 --steps 20"))
    totals: dict[str, set[int]] = {"subtle": set(), "strong": set()}
    for strength in totals:
        queued = await app.service.vary(alice, grid.job_id, 1, strong=strength == "strong")
        await app.runner.run(queued.job_id, lambda p, s=strength: totals[s].add(p.total))
        done = await app.service.show(queued.job_id)
        assert done.status == "done" and done.parameters.variation == strength
        assert {i.sha256 for i in done.images}.isdisjoint(i.sha256 for i in grid.images)
    assert totals == {"subtle": {10}, "strong": {13}}


async def test_reactions_are_recorded_and_only_owners_delete(
    app: App, alice: Actor, bob: Actor
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a cat"))
    image = grid.images[3]
    assert (await app.service.react(bob, image.id, "❤️"))["kind"] == "favorite"
    assert (await app.service.react(bob, image.id, "👎"))["kind"] == "dislike"
    assert (await app.service.react(alice, image.id, "thumbsup"))["kind"] == "like"
    with pytest.raises(PermissionDenied):
        await app.service.react(bob, image.id, "❌")
    with pytest.raises(UserError, match="not a reaction"):
        await app.service.react(bob, image.id, "🦄")
    assert (await app.service.react(alice, image.id, "❌"))["kind"] == "delete"
    recorded = await events(app)
    assert [e.kind for e in recorded] == [
        EventKind.FAVORITE,
        EventKind.DISLIKE,
        EventKind.LIKE,
        EventKind.DELETE,
    ]
    assert all(e.position == 3 for e in recorded)
    assert recorded[0].detail == {"emoji": "❤️"}


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (lambda s, a, job: s.upscale(a, "nosuchjob0", 1), NotFound),
        (lambda s, a, job: s.upscale(a, job, 5), UserError),
        (lambda s, a, job: s.upscale(a, job, 0), UserError),
        (lambda s, a, job: s.vary(a, job, 9, strong=True), UserError),
        (lambda s, a, job: s.reroll(a, "nosuchjob0"), NotFound),
        (lambda s, a, job: s.react(a, "nosuchimg0", "❤️"), NotFound),
        (lambda s, a, job: s.imagine(a, "a cat --model nonexistent"), NotFound),
        (lambda s, a, job: s.imagine(a, "a cat --steps 9999"), PromptError),
        (lambda s, a, job: s.imagine(a, "   "), PromptError),
    ],
)
async def test_bad_requests_are_refused_and_change_nothing(
    app: App, alice: Actor, action, error: type[Exception]
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a dog"))
    before = (
        await count(app, Job),
        await count(app, Image),
        await count(app, Event),
        await count(app, User),
    )
    with pytest.raises(error) as raised:
        await action(app.service, Actor.local("mallory"), grid.job_id)
    assert str(raised.value)
    after = (
        await count(app, Job),
        await count(app, Image),
        await count(app, Event),
        await count(app, User),
    )
    assert after == before


async def test_clicks_on_an_unfinished_grid_are_refused(app: App, alice: Actor) -> None:
    queued = await app.service.imagine(alice, "a slow boat")
    with pytest.raises(UserError, match="queued"):
        await app.service.upscale(alice, queued.job_id, 1)


async def test_blocked_people_are_refused_before_anything_is_queued(app: App, alice: Actor) -> None:
    await make(app, await app.service.imagine(alice, "a tree"))
    async with app.database.sessions.begin() as session:
        user = (await session.execute(select(User).where(User.local_name == "alice"))).scalar_one()
        user.blocked = True
    with pytest.raises(PermissionDenied):
        await app.service.imagine(alice, "another tree")
    assert await count(app, Job) == 1


async def test_a_prompt_longer_than_the_text_encoder_reads_gets_a_warning(
    app: App, alice: Actor
) -> None:
    short = await app.service.imagine(alice, "a red circle")
    assert short.warnings == []
    long = await app.service.imagine(alice, " ".join(["red circle"] * 60))
    assert long.warnings and "first 77" in long.warnings[0]
    # Accepted all the same: the whole prompt is kept.
    assert long.prompt.count("red circle") == 60


async def test_a_job_whose_source_image_is_damaged_fails_with_a_reason(
    app: App, alice: Actor
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a kite"))
    Path(grid.images[0].path).write_bytes(b"not the image any more")
    varied = await make(app, await app.service.vary(alice, grid.job_id, 1, strong=False))
    assert varied.status == "failed"
    assert varied.error and grid.images[0].sha256 in varied.error
    # The service keeps serving.
    assert (await make(app, await app.service.imagine(alice, "a kite"))).status == "done"


async def test_a_job_left_by_a_stopped_worker_is_finished_by_the_next_start(
    settings: Settings, local_engine: LocalEngine, alice: Actor
) -> None:
    short_lease = settings.model_copy(update={"job_lease_seconds": 0.3})
    async with open_app(short_lease, engine=local_engine) as first:
        queued = await first.service.imagine(alice, "a mountain --seed 9")
        async with open_app(short_lease, engine=local_engine) as meanwhile:
            # While the first worker lives (and renews its claim), nobody takes its job.
            await asyncio.sleep(0.5)
            assert (await meanwhile.queue.sweep(meanwhile.worker_id, worker_is_gone)).released == []
    await asyncio.sleep(0.4)
    async with open_app(short_lease, engine=local_engine) as second:
        resumed = await second.resume_interrupted()
        job = await second.service.show(queued.job_id)
    assert resumed == [(queued.job_id, JobStatus.DONE)]
    assert job.status == "done"
    assert job.seeds == [9, 10, 11, 12]


async def test_two_workers_recovering_at_once_take_each_job_once(
    settings: Settings, local_engine: LocalEngine, alice: Actor
) -> None:
    short_lease = settings.model_copy(update={"job_lease_seconds": 0.2})
    async with open_app(short_lease, engine=local_engine) as first:
        for text in ("one", "two", "three"):
            await first.service.imagine(alice, text)
    await asyncio.sleep(0.3)
    async with (
        open_app(short_lease, engine=local_engine) as a,
        open_app(short_lease, engine=local_engine) as b,
    ):
        swept_a, swept_b = await asyncio.gather(
            a.queue.sweep(a.worker_id, worker_is_gone), b.queue.sweep(b.worker_id, worker_is_gone)
        )
        taken_a, taken_b = swept_a.released, swept_b.released
    assert sorted(taken_a + taken_b) == sorted({*taken_a, *taken_b})
    assert len(taken_a) + len(taken_b) == 3


async def test_listing_jobs_costs_the_same_queries_for_one_job_as_for_many(
    app: App, alice: Actor
) -> None:
    statements: list[str] = []

    def counted(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    grid = await make(app, await app.service.imagine(alice, "a kite --steps 1"))
    await make(app, await app.service.upscale(alice, grid.job_id, 1))
    event.listen(app.database.engine.sync_engine, "before_cursor_execute", counted)
    try:
        await app.service.list_jobs(alice)
        for_two = len(statements)
        for n in range(4):
            await make(app, await app.service.vary(alice, grid.job_id, n + 1, strong=False))
        statements.clear()
        listed = await app.service.list_jobs(alice)
    finally:
        event.remove(app.database.engine.sync_engine, "before_cursor_execute", counted)
    assert len(listed) == 6 and all(view.images for view in listed)
    assert listed[-1].job_id == grid.job_id and listed[0].parent_job_id == grid.job_id
    assert len(statements) == for_two


async def test_processes_that_meet_a_new_model_at_once_register_it_once(
    settings: Settings, local_engine: LocalEngine
) -> None:
    # Several pickloop processes started together on one database (a bot and its workers).
    from storage.db import open_database
    from storage.models import ModelVersion

    database = await open_database(settings.resolved_database_url)  # the schema, made once
    await database.dispose()

    async def start() -> None:
        async with open_app(settings, engine=local_engine):
            pass

    await asyncio.gather(*(start() for _ in range(4)))
    async with open_app(settings, engine=local_engine) as app, app.database.sessions() as session:
        rows = (await session.execute(select(ModelVersion.name, ModelVersion.serving))).all()
    assert [tuple(row) for row in rows] == [(Path(settings.model).name, True)]


async def test_chaos_and_tile_travel_with_a_grid_to_its_reroll_and_a_variation_has_its_own(
    app: App, alice: Actor
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a red circle --chaos 80 --tile"))
    rerolled = await make(app, await app.service.reroll(alice, grid.job_id))
    varied = await make(app, await app.service.vary(alice, grid.job_id, 1, strong=False))

    assert (grid.parameters.chaos, grid.parameters.tile) == (80, True)
    assert (rerolled.parameters.chaos, rerolled.parameters.tile) == (80, True)
    # A variation's chaos is its kind's (how far it moves from its picture); it stays seamless.
    assert (varied.parameters.chaos, varied.parameters.tile) == (60, True)
