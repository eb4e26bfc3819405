"""The handler of the picture kinds: render a job on the engine and store its pictures.

Drawing is repeatable: a job's seeds are fixed when it is queued and the image store is
content-addressed, so a job drawn twice (its first worker died) stores the same files.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence

import PIL.Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.jobs.comparison import versions_by_position
from bot.core.jobs.edits import EDIT_STRENGTH, canvas_for, edit_of
from bot.core.jobs.handlers import JobResult
from bot.core.jobs.image_prompts import DEFAULT_IMAGE_WEIGHT, strength_for
from bot.core.jobs.job_view import seeds_of
from bot.core.models.registry import check_adapter
from engine import Engine, GenerationRequest, Progress, ProgressCallback, compose_grid
from engine.blending import blend
from engine.canvas import Canvas
from storage.db import Database
from storage.ids import new_public_id
from storage.imagestore import ImageStore, encode_png
from storage.models import Image, ImagePrompt, Job, JobKind, ModelVersion


class PictureHandler:
    def __init__(self, database: Database, store: ImageStore, engine: Engine) -> None:
        self._database = database
        self._store = store
        self._engine = engine

    async def run(self, job: Job, on_progress: ProgressCallback | None) -> JobResult:
        layout = versions_by_position(job)
        async with self._database.sessions() as session:
            versions = {
                version_id: await session.get_one(ModelVersion, version_id)
                for version_id in dict.fromkeys(layout)
            }
            parent = await session.get(Image, job.parent_image_id) if job.parent_image_id else None
            # Asked only of grids from image prompts: every other job's drawing skips the query.
            image_prompts = await _image_prompts(session, job) if job.parameters.images else None
        source = (
            await self._image_prompts_start(job, image_prompts)
            if image_prompts is not None
            else await self._source_image(job, parent)
        )
        pictures = await self._render_versions(job, layout, versions, source, on_progress)
        return await asyncio.to_thread(self._stored, job, pictures, layout)

    async def _source_image(self, job: Job, parent: Image | None) -> PIL.Image.Image | None:
        """The image an upscale or a variation starts from, read back and verified."""
        if job.kind is not JobKind.UPSCALE and not job.parameters.starts_from_a_picture:
            return None
        if parent is None:
            raise RuntimeError("the image this job starts from has been deleted")
        data = await asyncio.to_thread(self._store.read, parent.sha256)
        return PIL.Image.open(io.BytesIO(data)).convert("RGB")

    async def _image_prompts_start(self, job: Job, shas: Sequence[str]) -> PIL.Image.Image:
        """What a grid with image prompts starts from: their blend at the grid's size."""
        if len(shas) != job.parameters.images:
            raise RuntimeError("the pictures this job starts from have been deleted")

        def read(sha: str) -> PIL.Image.Image:
            return PIL.Image.open(io.BytesIO(self._store.read(sha))).convert("RGB")

        pictures = await asyncio.to_thread(lambda: [read(sha) for sha in shas])
        return blend(pictures, (job.parameters.width, job.parameters.height))

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
        init_image, strength, mask = source, p.strength, None
        if p.images:
            strength = strength_for(
                p.image_weight if p.image_weight is not None else DEFAULT_IMAGE_WEIGHT
            )
        if p.edit is not None:
            # An edit starts from its picture placed on a canvas, the rest drawn afresh.
            assert source is not None
            canvas = await self._canvas(job, model, source)
            init_image, strength, mask = canvas.image, EDIT_STRENGTH, canvas.mask
        request = GenerationRequest(
            model=model,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            width=p.width,
            height=p.height,
            steps=p.steps,
            guidance=p.guidance,
            seeds=tuple(seeds),
            init_image=init_image,
            strength=strength,
            mask=mask,
            adapter=adapter,
            chaos=p.chaos or 0,
            tile=bool(p.tile),
        )
        return await self._engine.generate(request, on_progress)

    async def _canvas(self, job: Job, model: str, source: PIL.Image.Image) -> Canvas:
        """Where an edit's picture goes, and what is drawn around or into it."""
        p = job.parameters
        info = await self._engine.describe(model)
        placed = (p.source_width or p.width, p.source_height or p.height)
        picture = source.resize(placed, PIL.Image.Resampling.LANCZOS)
        canvas = canvas_for(edit_of(p), picture, info.size_multiple)
        if canvas.image.size != (p.width, p.height):
            raise RuntimeError(f"this edit's canvas is {canvas.image.size}, not its recipe's")
        return canvas

    def _stored(
        self, job: Job, pictures: Sequence[PIL.Image.Image], layout: Sequence[int]
    ) -> JobResult:
        """The pictures' files stored, and their rows (and the grid's) to write."""
        shas = [self._store.put(encode_png(picture)) for picture in pictures]
        grid = shas[0] if len(shas) == 1 else self._store.put(encode_png(compose_grid(pictures)))
        seeds = seeds_of(job)
        rows = [
            Image(
                public_id=new_public_id(),
                position=position,
                seed=seeds[position],
                model_version_id=layout[position],
                sha256=sha256,
                width=picture.width,
                height=picture.height,
            )
            for position, (sha256, picture) in enumerate(zip(shas, pictures, strict=True))
        ]
        return JobResult(images=rows, grid_sha256=grid)


async def _image_prompts(session: AsyncSession, job: Job) -> list[str]:
    """The hashes of the pictures a job was given, in their order."""
    given = await session.execute(
        select(ImagePrompt.sha256)
        .where(ImagePrompt.job_id == job.id)
        .order_by(ImagePrompt.position)
    )
    return list(given.scalars())


def _one_of(on_progress: ProgressCallback | None, rank: int, parts: int) -> ProgressCallback | None:
    """Progress of one of several renders of a job, as progress of the whole job."""
    if on_progress is None or parts == 1:
        return on_progress

    def report(progress: Progress) -> None:
        on_progress(
            Progress(step=rank * progress.total + progress.step, total=parts * progress.total)
        )

    return report
