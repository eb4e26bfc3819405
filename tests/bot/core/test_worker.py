"""A worker on the shared queue, with real jobs: fair turns, several at once, caps counted in
the database, cancelled and failing jobs, and the sweep that takes over dead workers' jobs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App, open_app
from bot.core.errors import UserError
from bot.core.jobs.caps import QueueFull
from bot.core.worker import QueueWorker
from engine import LocalEngine
from storage.models import Job, JobStatus, utcnow

ALICE, BOB, CAROL = (Actor.discord(500 + n, name) for n, name in enumerate("abc"))


@pytest.fixture
async def queue_app(settings: Settings, local_engine: LocalEngine) -> AsyncIterator[App]:
    """A process that queues jobs for any worker, as the bot does."""
    quick = settings.model_copy(
        update={"queue_poll_seconds": 0.05, "queue_per_person": 3, "queue_total": 6}
    )
    async with open_app(quick, engine=local_engine, run_own_jobs=False) as opened:
        yield opened


@contextlib.asynccontextmanager
async def working(app: App, capacity: int = 1) -> AsyncIterator[QueueWorker]:
    worker = QueueWorker(app, capacity=capacity)
    task = asyncio.create_task(worker.work())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def queue(app: App, actor: Actor, text: str) -> str:
    return (await app.service.imagine(actor, f"{text} --steps 1")).job_id


async def job_rows(app: App) -> int:
    async with app.database.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Job))).scalar_one())


async def finished_order(app: App, job_ids: dict[str, str]) -> list[str]:
    async with app.database.sessions() as session:
        rows = await session.execute(
            select(Job.public_id, Job.started_at).where(Job.public_id.in_(job_ids.values()))
        )
        started = dict(rows.all())
    return sorted(job_ids, key=lambda name: started[job_ids[name]])


async def test_a_worker_takes_turns_round_people_not_first_come(queue_app: App) -> None:
    jobs = {
        "a1": await queue(queue_app, ALICE, "a1"),
        "a2": await queue(queue_app, ALICE, "a2"),
        "a3": await queue(queue_app, ALICE, "a3"),
        "b1": await queue(queue_app, BOB, "b1"),
        "c1": await queue(queue_app, CAROL, "c1"),
    }
    assert await queue_app.queue.position(jobs["a2"]) == 4
    async with working(queue_app):
        statuses = [await queue_app.watch.finished(job_id) for job_id in jobs.values()]
    assert statuses == [JobStatus.DONE] * 5
    assert await finished_order(queue_app, jobs) == ["a1", "b1", "c1", "a2", "a3"]


async def test_several_jobs_run_at_once_when_the_worker_has_room(queue_app: App) -> None:
    jobs = {
        name: await queue(queue_app, who, name)
        for name, who in [("a1", ALICE), ("a2", ALICE), ("b1", BOB)]
    }
    async with working(queue_app, capacity=2) as worker:
        await worker.claimed_round()
        places = {name: await queue_app.queue.position(job_id) for name, job_id in jobs.items()}
        statuses = [await queue_app.watch.finished(job_id) for job_id in jobs.values()]
    # Alice's first and Bob's first were claimed together; Alice's second waited for room.
    assert places == {"a1": None, "b1": None, "a2": 1}
    assert statuses == [JobStatus.DONE] * 3


def test_a_worker_runs_at_least_one_job_at_once(app: App) -> None:
    with pytest.raises(ValueError, match="at least one"):
        QueueWorker(app, capacity=0)


async def test_a_person_over_their_cap_is_told_when_to_retry_and_nothing_is_written(
    queue_app: App,
) -> None:
    for n in range(3):
        await queue(queue_app, ALICE, f"mine {n}")
    before = await job_rows(queue_app)
    with pytest.raises(QueueFull, match=r"already have 3 jobs.*Try again"):
        await queue(queue_app, ALICE, "one too many")
    assert await job_rows(queue_app) == before
    # Others still get in, and the operator's terminal is not capped.
    await queue(queue_app, BOB, "bob's")
    await queue(queue_app, Actor.local("operator"), "the operator's")


async def test_the_whole_queue_has_a_cap_too(queue_app: App) -> None:
    for n in range(6):
        await queue(queue_app, Actor.discord(600 + n // 2, f"p{n // 2}"), f"job {n}")
    with pytest.raises(QueueFull, match=r"queue is full \(6 jobs\)"):
        await queue(queue_app, Actor.discord(700, "late"), "late")


async def test_a_refused_prompt_takes_no_place(queue_app: App) -> None:
    for n in range(2):
        await queue(queue_app, ALICE, f"ok {n}")
    with pytest.raises(UserError):
        await queue_app.service.imagine(ALICE, "bad --steps 0")
    await queue(queue_app, ALICE, "third fits")


async def test_a_cancelled_job_never_runs(queue_app: App) -> None:
    moderator = Actor.discord(900, "mod")
    keep = await queue(queue_app, ALICE, "keep")
    drop = await queue(queue_app, ALICE, "drop")
    await queue_app.moderation.cancel(moderator, drop, manages_server=True)
    async with working(queue_app):
        assert await queue_app.watch.finished(drop) == JobStatus.CANCELLED
        assert await queue_app.watch.finished(keep) == JobStatus.DONE
    dropped = await queue_app.service.show(drop)
    assert dropped.images == [] and dropped.status == "cancelled"


async def test_a_failing_job_does_not_stop_the_worker(queue_app: App) -> None:
    async with working(queue_app):
        grid = await queue(queue_app, ALICE, "source")
        await queue_app.watch.finished(grid)
        view = await queue_app.service.show(grid)
        await asyncio.to_thread(Path(view.images[0].path).write_bytes, b"broken")
        varied = (await queue_app.service.vary(ALICE, grid, 1, strong=True)).job_id
        after = await queue(queue_app, ALICE, "after")
        assert await queue_app.watch.finished(varied) == JobStatus.FAILED
        assert await queue_app.watch.finished(after) == JobStatus.DONE


async def test_a_running_worker_sweeps_up_a_dead_workers_job_without_a_restart(
    settings: Settings, local_engine: LocalEngine
) -> None:
    short = settings.model_copy(update={"job_lease_seconds": 0.6, "queue_poll_seconds": 0.05})
    async with open_app(short, engine=local_engine, run_own_jobs=False) as app:
        async with working(app):
            job_id = await queue(app, ALICE, "orphaned --seed 7")
            await app.watch.finished(job_id)
            # Another job, claimed and started by a worker elsewhere that then went silent.
            lost = await queue(app, BOB, "lost --seed 11")
            async with app.database.sessions.begin() as session:
                await session.execute(
                    update(Job)
                    .where(Job.public_id == lost, Job.claimed_by.is_(None))
                    .values(
                        claimed_by="elsewhere:1:gone",
                        status=JobStatus.RUNNING,
                        attempts=1,
                        lease_expires_at=utcnow() + timedelta(seconds=0.3),
                    )
                )
            async with asyncio.timeout(30):
                assert await app.watch.finished(lost) == JobStatus.DONE
        shown = await app.service.show(lost)
    assert shown.seeds == [11, 12, 13, 14] and len(shown.images) == 4


async def test_on_postgresql_a_finished_job_is_heard_of_without_polling(
    settings: Settings, local_engine: LocalEngine, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no announcements: there, processes poll")
    # Polls so rare that only PostgreSQL's announcement can bring the news in time.
    rarely = settings.model_copy(update={"queue_poll_seconds": 600.0})
    async with (
        open_app(rarely, engine=local_engine, run_own_jobs=False) as front,
        open_app(rarely, engine=local_engine, run_own_jobs=False) as back,
    ):
        job_id = await queue(front, ALICE, "heard of")
        waiting = asyncio.ensure_future(front.watch.finished(job_id))
        async with working(back):
            async with asyncio.timeout(60):
                assert await waiting == JobStatus.DONE


def labelled_pictures(folder: Path) -> Path:
    """A kto dataset folder (pickloop's export layout): four labelled pictures."""
    import datasets
    from PIL import Image

    colours = ["red", "blue", "green", "navy"]
    rows = datasets.Dataset.from_dict(
        {
            "caption": [f"a {colour} square" for colour in colours],
            "image": [Image.new("RGB", (64, 64), colour) for colour in colours],
            "label": [1, 0, 1, 0],
        },
        features=datasets.Features(
            caption=datasets.Value("string"), image=datasets.Image(), label=datasets.Value("int8")
        ),
    )
    rows.to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    return folder


async def spans(app: App, job_ids: list[str]) -> list[tuple[object, object]]:
    """(started, finished) of each job, in the order given."""
    async with app.database.sessions() as session:
        rows = await session.execute(
            select(Job.public_id, Job.started_at, Job.finished_at).where(Job.public_id.in_(job_ids))
        )
        found = {job_id: (started, finished) for job_id, started, finished in rows.all()}
    return [found[job_id] for job_id in job_ids]


async def test_fine_tunes_run_one_at_a_time_and_hold_up_no_grid(
    queue_app: App, tmp_path: Path
) -> None:
    from engine.train.options import TrainingOptions

    data = labelled_pictures(tmp_path / "kto")
    long, short = (
        TrainingOptions(method="kto", steps=steps, batch_size=2, rank=2, validate_every=1000)
        for steps in (60, 2)
    )
    first = await queue_app.data_jobs.fine_tune(ALICE, long, data=str(data), out=tmp_path / "a")
    second = await queue_app.data_jobs.fine_tune(BOB, short, data=str(data), out=tmp_path / "b")
    grid = await queue(queue_app, CAROL, "a red circle")

    # Room for one job: the first fine-tune runs in its own lane, so the grid is not behind it.
    async with working(queue_app, capacity=1):
        statuses = [
            await queue_app.watch.finished(job_id) for job_id in (grid, first.job_id, second.job_id)
        ]
    assert statuses == [JobStatus.DONE] * 3
    (_, first_end), (second_start, _), (_, grid_end) = await spans(
        queue_app, [first.job_id, second.job_id, grid]
    )
    assert grid_end < first_end
    assert second_start >= first_end
    assert (tmp_path / "a" / "pytorch_lora_weights.safetensors").is_file()
