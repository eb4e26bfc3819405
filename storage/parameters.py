"""How a job is made: one typed model, stored as JSON in ``jobs.parameters``.

Every kind of job has a size, steps, guidance and a picture count (data jobs make no pictures:
a count of 0, and what they are asked for in ``export`` or ``fine_tune``); the other fields
belong to some kinds only and are left out of the stored JSON when unset, so a row reads back
exactly as it was written, and exports (which carry the stored JSON) do not change shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class ExportRequest(BaseModel):
    """An export job: which dataset layout, into which new folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str
    out: str
    # The flywheel's training sets: one person's doings only (their profile's data), and
    # pseudonyms keyed by a throw-away secret (the set never leaves pickloop).
    person: int | None = None
    internal: bool | None = None


class FineTuneRequest(BaseModel):
    """A fine-tune job: the data, the adapter folder, the base model and the training options
    (``engine.train.options.TrainingOptions`` as JSON: storage does not depend on the engine)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: str
    out: str
    work: str
    model: str
    training: dict[str, Any]
    # Trained as a task on the Ray cluster (one GPU) rather than by the worker that runs the job.
    on_cluster: bool | None = None


class JobParameters(BaseModel):
    # Frozen: a job's recipe is changed by making a new one (``model_copy``), never in place,
    # so the ORM never misses a change. Extra keys are kept as they are: a row written by a
    # later pickloop still reads, and writes back unchanged.
    model_config = ConfigDict(frozen=True, extra="allow")

    width: int
    height: int
    steps: int
    guidance: float
    # Pictures the job makes: 4 for a grid, 1 for an upscale.
    count: int
    # The --ar a grid was asked with, as "W:H".
    aspect: str | None = None
    # --chaos (0-100: how different the grid's pictures are) and --tile (seamless pictures).
    chaos: int | None = None
    tile: bool | None = None
    # Image prompts: how many pictures the grid starts from (the files are in image_prompts,
    # never named here: exports carry these fields) and --iw, how much they count.
    images: int | None = None
    image_weight: float | None = None
    # A blind comparison: the model version id behind each grid position.
    versions: tuple[int, ...] | None = None
    # Made from a picture of a blind grid: it must not tell its version either.
    blind: bool | None = None
    # Variations: how far from the source picture (img2img strength), and which button.
    strength: float | None = None
    variation: Literal["subtle", "strong"] | None = None
    # Upscales: by how much, how strongly the refine pass redraws, and the source's size.
    factor: int | None = None
    refine_strength: float | None = None
    # Upscale (Creative): the refine pass redraws detail at the new size.
    creative: bool | None = None
    source_width: int | None = None
    source_height: int | None = None
    # Edits: which tool, and what it was asked (``engine.canvas``); drawn by inpainting.
    edit: Literal["zoom_out", "pan", "make_square", "vary_region"] | None = None
    zoom: float | None = None
    direction: Literal["left", "right", "up", "down"] | None = None
    regions: tuple[str, ...] | None = None
    # Data jobs: what they are asked to do.
    export: ExportRequest | None = None
    fine_tune: FineTuneRequest | None = None

    @classmethod
    def for_data(
        cls, *, export: ExportRequest | None = None, fine_tune: FineTuneRequest | None = None
    ) -> JobParameters:
        """The parameters of a job that makes no pictures."""
        nothing_drawn = {"width": 0, "height": 0, "steps": 0, "guidance": 0.0, "count": 0}
        return cls(**nothing_drawn, export=export, fine_tune=fine_tune)

    @property
    def is_blind(self) -> bool:
        """Whether the pictures belong to a blind comparison (or were made from one)."""
        return self.versions is not None or bool(self.blind)

    @property
    def starts_from_a_picture(self) -> bool:
        """Variations and edits start from their source picture (upscales always do, by their
        kind)."""
        return self.strength is not None or self.edit is not None

    @property
    def grid_size(self) -> tuple[int, int]:
        """The size a variation or an edit of these pictures is drawn at: an upscale's source
        size, else the pictures' own (an edit's source size is where it placed its picture)."""
        if self.factor is None:
            return (self.width, self.height)
        return (self.source_width or self.width, self.source_height or self.height)

    def stored(self) -> dict[str, Any]:
        """The JSON kept in the database and carried by exports: set fields only."""
        return self.model_dump(mode="json", exclude_none=True)
