"""Running one claimed job: render it on the engine, store the images, finish.

Delivery is at-least-once and every step is idempotent by job id: a job's seeds are fixed when it
is queued, the image store is content-addressed, and images are written in the same transaction
that marks the job done, so a job run twice leaves exactly one set of rows and files.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import PIL.Image
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.jobs.comparison import versions_by_position
from bot.core.jobs.job_view import seeds_of
from bot.core.models.registry import check_adapter
from engine import Engine, GenerationRequest, Progress, ProgressCallback, compose_grid
from storage.db import Database, rows_changed
from storage.ids import new_public_id
from storage.imagestore import ImageStore, encode_png
from storage.models import Image, Job, JobKind, JobStatus, ModelVersion, utcnow
from storage.queue import UNFINISHED, announce

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(
        self,
        database: Database,
        store: ImageStore,
        engine: Engine,
        worker_id: str,
        lease_seconds: float,
    ) -> None:
        self._database = database
        self._store = store
        self._engine = engine
        self._worker_id = worker_id
        self._lease = timedelta(seconds=lease_seconds)

    async def run(self, job_id: str, on_progress: ProgressCallback | None = None) -> JobStatus:
        """Run a job this worker has claimed; returns its final status.

        A job that another worker has taken over (this worker's claim lapsed) is left to it.
        """
        async with self._database.sessions.begin() as session:
            job = await self._claim_for_running(session, job_id)
            if job is None:
                return await _status_of(session, job_id)
            layout = versions_by_position(job)
            versions = {
                version_id: await session.get_one(ModelVersion, version_id)
                for version_id in dict.fromkeys(layout)
            }
            parent = await session.get(Image, job.parent_image_id) if job.parent_image_id else None
        try:
            source = await self._source_image(job, parent)
            images = await self._render_versions(job, layout, versions, source, on_progress)
        except asyncio.CancelledError:
            # The claim lapses and another start takes the job over.
            raise
        except Exception as error:
            log.exception("job %s failed", job.public_id)
            await self._finish_failed(job, _one_line(error))
            return JobStatus.FAILED
        return await self._finish_done(job, images, layout)

    # --- steps -----------------------------------------------------------------------------

    async def _claim_for_running(self, session: AsyncSession, job_id: str) -> Job | None:
        now = utcnow()
        result = await session.execute(
            update(Job)
            .where(
                Job.public_id == job_id,
                Job.claimed_by == self._worker_id,
                Job.status.in_(UNFINISHED),
            )
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                lease_expires_at=now + self._lease,
                started_at=now,
            )
        )
        if not rows_changed(result):
            return None
        return (
            await session.execute(
                select(Job).where(Job.public_id == job_id).execution_options(populate_existing=True)
            )
        ).scalar_one()

    async def _source_image(self, job: Job, parent: Image | None) -> PIL.Image.Image | None:
        """The image an upscale or a variation starts from, read back and verified."""
        if job.kind is not JobKind.UPSCALE and not job.parameters.starts_from_a_picture:
            return None
        if parent is None:
            raise RuntimeError("the image this job starts from has been deleted")
        data = await asyncio.to_thread(self._store.read, parent.sha256)
        return PIL.Image.open(io.BytesIO(data)).convert("RGB")

    async def _render_versions(
        self,
        job: Job,
        layout: Sequence[int],
        versions: dict[int, ModelVersion],
        source: PIL.Image.Image | None,
        on_progress: ProgressCallback | None,
    ) -> list[PIL.Image.Image]:
        """The job's pictures by position, each drawn by the version its position names."""
        seeds = seeds_of(job)
        pictures: dict[int, PIL.Image.Image] = {}
        groups = list(versions.items())
        for rank, (version_id, version) in enumerate(groups):
            adapter = await asyncio.to_thread(check_adapter, version)
            positions = [i for i, wanted in enumerate(layout) if wanted == version_id]
            drawn = await self._render(
                job,
                version.base_model,
                adapter,
                source,
                _one_of(on_progress, rank, len(groups)),
                seeds=[seeds[i] for i in positions],
            )
            pictures.update(zip(positions, drawn, strict=True))
        return [pictures[position] for position in range(len(layout))]

    async def _render(
        self,
        job: Job,
        model: str,
        adapter: str | None,
        source: PIL.Image.Image | None,
        on_progress: ProgressCallback | None,
        seeds: Sequence[int],
    ) -> list[PIL.Image.Image]:
        p = job.parameters
        if job.kind is JobKind.UPSCALE:
            assert source is not None
            if p.factor is None or p.refine_strength is None:
                raise RuntimeError("this upscale was stored without its factor or refine strength")
            upscaled = await self._engine.upscale(
                model,
                source,
                factor=p.factor,
                refine_strength=p.refine_strength,
                prompt=job.prompt,
                negative_prompt=job.negative_prompt,
                seed=job.base_seed,
                steps=p.steps,
                guidance=p.guidance,
                on_progress=on_progress,
            )
            return [upscaled]
        request = GenerationRequest(
            model=model,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            width=p.width,
            height=p.height,
            steps=p.steps,
            guidance=p.guidance,
            seeds=tuple(seeds),
            init_image=source,
            strength=p.strength,
            adapter=adapter,
        )
        return await self._engine.generate(request, on_progress)

    async def _finish_done(
        self, job: Job, images: Sequence[PIL.Image.Image], layout: Sequence[int]
    ) -> JobStatus:
        stored = await asyncio.to_thread(self._store_files, images)
        seeds = seeds_of(job)
        async with self._database.sessions.begin() as session:
            still_ours = await session.execute(
                update(Job)
                .where(
                    Job.id == job.id,
                    Job.claimed_by == self._worker_id,
                    Job.status == JobStatus.RUNNING,
                )
                .values(
                    status=JobStatus.DONE,
                    grid_sha256=stored.grid,
                    finished_at=utcnow(),
                    claimed_by=None,
                    lease_expires_at=None,
                    error=None,
                )
            )
            if not rows_changed(still_ours):
                # Another worker took the job over while this one was slow; it owns the result.
                return await _status_of(session, job.public_id)
            await announce(session, job.public_id)
            for position, (sha256, image) in enumerate(zip(stored.images, images, strict=True)):
                session.add(
                    Image(
                        public_id=new_public_id(),
                        job_id=job.id,
                        position=position,
                        seed=seeds[position],
                        model_version_id=layout[position],
                        sha256=sha256,
                        width=image.width,
                        height=image.height,
                    )
                )
        return JobStatus.DONE

    def _store_files(self, images: Sequence[PIL.Image.Image]) -> _StoredFiles:
        shas = [self._store.put(encode_png(image)) for image in images]
        grid = shas[0] if len(images) == 1 else self._store.put(encode_png(compose_grid(images)))
        return _StoredFiles(images=shas, grid=grid)

    async def _finish_failed(self, job: Job, message: str) -> None:
        async with self._database.sessions.begin() as session:
            await session.execute(
                update(Job)
                .where(Job.id == job.id, Job.claimed_by == self._worker_id)
                .values(
                    status=JobStatus.FAILED,
                    error=message,
                    finished_at=utcnow(),
                    claimed_by=None,
                    lease_expires_at=None,
                )
            )
            await announce(session, job.public_id)


@dataclass(frozen=True)
class _StoredFiles:
    images: list[str]
    grid: str


async def _status_of(session: AsyncSession, job_id: str) -> JobStatus:
    status = (
        await session.execute(select(Job.status).where(Job.public_id == job_id))
    ).scalar_one_or_none()
    # No row: its owner deleted their data (/privacy delete) before the job could finish.
    return JobStatus.CANCELLED if status is None else JobStatus(status)


def _one_of(on_progress: ProgressCallback | None, rank: int, parts: int) -> ProgressCallback | None:
    """Progress of one of several renders of a job, as progress of the whole job."""
    if on_progress is None or parts == 1:
        return on_progress

    def report(progress: Progress) -> None:
        on_progress(
            Progress(step=rank * progress.total + progress.step, total=parts * progress.total)
        )

    return report


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:500]
