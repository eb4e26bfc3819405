"""Read each grid's record from the database: its images, what people did with them, and the
pictures its /rate answers compared them with.

Grids are read a batch at a time, in job-id order, each batch in its own short session, so the
memory used stays bounded however many jobs and events there are, and the same database always
gives the same rankings in the same order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.db import Database
from storage.labels.rows import Action, GridRanking, ShownImage
from storage.models import Event, Image, Job, JobKind, JobStatus, ModelVersion

GRID_KINDS = (JobKind.IMAGINE, JobKind.VARIATION, JobKind.REROLL)


async def iter_rankings(
    database: Database, *, batch: int = 200, showing: Collection[int] | None = None
) -> AsyncIterator[GridRanking]:
    """Every finished grid that someone did something with (on it, on one of its images, or on
    an upscale of one), in job-id order. ``showing``: only the grids that could hold a vote on
    one of these model versions: a picture of one, or a /rate answer that compared one of
    their pictures with one of the grid's."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    after = 0
    while True:
        async with database.sessions() as session:
            grids = await _grids_after(session, after, batch, showing)
            rankings = await _rankings(session, grids) if grids else []
        for ranking in rankings:
            yield ranking
        if len(grids) < batch:
            return
        after = grids[-1].id


async def _grids_after(
    session: AsyncSession, after: int, limit: int, showing: Collection[int] | None
) -> list[Job]:
    upscale = aliased(Job)
    on_grid = select(Event.id).where(Event.job_id == Job.id).exists()
    on_upscale = (
        select(Event.id)
        .join(upscale, Event.job_id == upscale.id)
        .where(upscale.parent_job_id == Job.id, upscale.kind == JobKind.UPSCALE)
        .exists()
    )
    query = (
        select(Job)
        .where(
            Job.id > after,
            Job.kind.in_(GRID_KINDS),
            Job.status == JobStatus.DONE,
            or_(on_grid, on_upscale),
            *([] if showing is None else [_shows(showing)]),
        )
        .order_by(Job.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())


def _shows(versions: Collection[int]) -> ColumnElement[bool]:
    """The grid holds a picture of one of ``versions``, or a /rate answer on it compared one."""
    drawn = (
        select(Image.id)
        .where(Image.job_id == Job.id, Image.model_version_id.in_(versions))
        .exists()
    )
    other = aliased(Image)
    compared = (
        select(Event.id)
        .join(other, other.id == Event.other_image_id)
        .where(Event.job_id == Job.id, other.model_version_id.in_(versions))
        .exists()
    )
    return or_(drawn, compared)


async def _rankings(session: AsyncSession, grids: Sequence[Job]) -> list[GridRanking]:
    grid_ids = [grid.id for grid in grids]
    upscales = list(
        (
            await session.execute(
                select(Job)
                .where(Job.parent_job_id.in_(grid_ids), Job.kind == JobKind.UPSCALE)
                .order_by(Job.id)
            )
        )
        .scalars()
        .all()
    )
    jobs = {job.id: job for job in (*grids, *upscales)}
    images = await _images(session, Image.job_id.in_(list(jobs)))
    events = list(
        (
            await session.execute(
                select(Event)
                .where(Event.job_id.in_(list(jobs)))
                .order_by(Event.created_at, Event.id)
            )
        )
        .scalars()
        .all()
    )
    known = {image.id for image in images}
    others = [e.other_image_id for e in events if e.other_image_id is not None]
    missing = sorted({i for i in others if i not in known})
    compared = await _images(session, Image.id.in_(missing)) if missing else []
    other_jobs = await _jobs(session, {image.job_id for image in compared} - set(jobs))
    jobs.update(other_jobs)
    results = await _public_ids(session, {e.result_job_id for e in events} - {None})
    # Per picture: the two versions of a blind A/B grid each drew two of its four.
    versions = await _version_names(
        session, {image.model_version_id for image in (*images, *compared)}
    )

    def shown(image: Image) -> ShownImage:
        return shown_image(image, jobs[image.job_id], versions[image.model_version_id])

    by_id = {image.id: image for image in (*images, *compared)}
    images_of: dict[int, list[Image]] = {}
    for image in images:
        images_of.setdefault(image.job_id, []).append(image)
    upscales_of: dict[int, list[Job]] = {}
    for job in upscales:
        if job.parent_job_id is not None:
            upscales_of.setdefault(job.parent_job_id, []).append(job)
    events_of: dict[int, list[Event]] = {}
    for event in events:
        events_of.setdefault(event.job_id, []).append(event)

    rankings = []
    for grid in grids:
        grid_images = images_of.get(grid.id, [])
        grid_image_ids = {image.id for image in grid_images}
        actions: list[tuple[Event, Action]] = []
        for event in events_of.get(grid.id, []):
            position = by_id[event.image_id].position if event.image_id in by_id else None
            actions.append((event, _action(event, position, results)))
        upscaled: list[Image] = []
        for job in upscales_of.get(grid.id, []):
            picture = next(iter(images_of.get(job.id, [])), None)
            if picture is not None:
                upscaled.append(picture)
            source = by_id.get(job.parent_image_id) if job.parent_image_id is not None else None
            position = source.position if source is not None else None
            for event in events_of.get(job.id, []):
                # A reaction on the upscale's message as a whole is one on its only picture.
                on = event.image_id
                if on is None and picture is not None:
                    on = picture.id
                actions.append((event, _action(event, position, results, upscale_image_id=on)))
        actions.sort(key=lambda pair: (pair[0].created_at, pair[0].id))
        compared_ids = sorted(
            {
                event.other_image_id
                for event, _ in actions
                if event.other_image_id is not None
                and event.other_image_id not in grid_image_ids
                and event.other_image_id in by_id
            }
        )
        rankings.append(
            GridRanking(
                ranking_id=grid.public_id,
                caption=grid.prompt,
                images=tuple(shown(image) for image in grid_images),
                actions=tuple(action for _, action in actions),
                compared_with=tuple(shown(by_id[i]) for i in compared_ids),
                upscales=tuple(shown(image) for image in sorted(upscaled, key=lambda i: i.id)),
            )
        )
    return rankings


def shown_image(image: Image, job: Job, model_version: str) -> ShownImage:
    return ShownImage(
        image_id=image.id,
        public_id=image.public_id,
        job_id=job.id,
        job_public_id=job.public_id,
        job_kind=job.kind.value,
        position=image.position,
        seed=image.seed,
        sha256=image.sha256,
        width=image.width,
        height=image.height,
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        model_version=model_version,
        parameters=job.parameters.stored(),
        created_at=image.created_at,
    )


def _action(
    event: Event,
    position: int | None,
    results: dict[int, str],
    *,
    upscale_image_id: int | None = None,
) -> Action:
    return Action(
        event_id=event.id,
        user_id=event.user_id,
        kind=event.kind.value,
        position=position if position is not None else event.position,
        other_image_id=event.other_image_id,
        other_position=event.other_position,
        result_job_public_id=(
            results.get(event.result_job_id) if event.result_job_id is not None else None
        ),
        created_at=event.created_at,
        upscale_image_id=upscale_image_id,
    )


async def _images(session: AsyncSession, where: ColumnElement[bool]) -> list[Image]:
    query = select(Image).where(where).order_by(Image.job_id, Image.position)
    return list((await session.execute(query)).scalars().all())


async def _jobs(session: AsyncSession, ids: Iterable[int]) -> dict[int, Job]:
    wanted = sorted(ids)
    if not wanted:
        return {}
    query = select(Job).where(Job.id.in_(wanted))
    return {job.id: job for job in (await session.execute(query)).scalars().all()}


async def _public_ids(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    query = select(Job.id, Job.public_id).where(Job.id.in_(wanted))
    return {row.id: row.public_id for row in await session.execute(query)}


async def _version_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    query = select(ModelVersion.id, ModelVersion.name).where(ModelVersion.id.in_(sorted(ids)))
    return {row.id: row.name for row in await session.execute(query)}
