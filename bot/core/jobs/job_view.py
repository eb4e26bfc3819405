"""What a front end shows of a job: plain, JSON-ready values, no ORM objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from storage.imagestore import ImageStore
from storage.models import Image, Job, JobStatus
from storage.parameters import JobParameters


@dataclass(frozen=True)
class ImageView:
    id: str
    index: int  # 1-based, as on the U1..U4 / V1..V4 buttons
    position: int  # 0-based grid position, row-major
    seed: int
    sha256: str
    width: int
    height: int
    path: str
    # The model version that drew it; None where it is not shown (a blind comparison).
    model: str | None = None
    # What is wrong with its file ("missing", "damaged ..."), where it was checked.
    problem: str | None = None


@dataclass(frozen=True)
class JobView:
    job_id: str
    kind: str
    status: str
    prompt: str
    negative_prompt: str
    # Without a blind grid's layout: that is the answer to which version drew what.
    parameters: JobParameters
    base_seed: int
    seeds: list[int]
    model: str
    owner: str
    parent_job_id: str | None
    parent_image_id: str | None
    origin: str
    created_at: str
    finished_at: str | None
    error: str | None
    grid_path: str | None
    images: list[ImageView]
    warnings: list[str] = field(default_factory=list)
    # What a data job made (an export's folder and rows, a fine-tune's adapter), once done.
    outcome: dict[str, Any] | None = None
    # While it runs: the steps done and in all, as its worker last wrote them (any process).
    steps_done: int | None = None
    steps_total: int | None = None

    def to_json(self) -> dict[str, Any]:
        shown = asdict(self)
        shown["parameters"] = self.parameters.stored()
        return shown


def image_view(image: Image, store: ImageStore, model: str | None = None) -> ImageView:
    return ImageView(
        id=image.public_id,
        index=image.position + 1,
        position=image.position,
        seed=image.seed,
        sha256=image.sha256,
        width=image.width,
        height=image.height,
        path=str(store.path(image.sha256)),
        model=model,
    )


def job_view(
    job: Job,
    *,
    images: list[Image],
    model_name: str,
    owner_name: str,
    parent_job_public_id: str | None,
    parent_image_public_id: str | None,
    store: ImageStore,
    image_models: list[str] | None = None,
    warnings: list[str] | None = None,
) -> JobView:
    grid_path: Path | None = store.path(job.grid_sha256) if job.grid_sha256 else None
    running = job.status is JobStatus.RUNNING
    return JobView(
        job_id=job.public_id,
        kind=job.kind.value,
        status=job.status.value,
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        parameters=job.parameters.model_copy(update={"versions": None}),
        base_seed=job.base_seed,
        seeds=seeds_of(job),
        model=model_name,
        owner=owner_name,
        parent_job_id=parent_job_public_id,
        parent_image_id=parent_image_public_id,
        origin=job.origin.value,
        created_at=job.created_at.isoformat(),
        finished_at=job.finished_at.isoformat() if job.finished_at else None,
        error=job.error,
        grid_path=str(grid_path) if grid_path else None,
        images=[
            image_view(image, store, image_models[i] if image_models else None)
            for i, image in enumerate(images)
        ],
        warnings=list(warnings or []),
        outcome=job.outcome,
        steps_done=job.progress_step if running else None,
        steps_total=job.progress_total if running else None,
    )


def seeds_of(job: Job) -> list[int]:
    """Seed i of a job is its base seed + i, so any image can be made again alone."""
    return [job.base_seed + i for i in range(job.parameters.count)]


def with_file_problems(view: JobView, store: ImageStore) -> JobView:
    """The view with each picture's file checked (read in full and against its hash)."""
    images = [replace(image, problem=store.problem(image.sha256)) for image in view.images]
    return replace(view, images=images)
