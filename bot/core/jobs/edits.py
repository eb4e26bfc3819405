"""What an edit asks (zoom out, pan, make square, vary region), checked before it is queued, and
the canvas its job draws on (``engine.canvas``).

An edit starts from one picture (a grid's, or an upscale's, drawn at the size of the grid it came
from) and makes a new grid of four, each drawn by inpainting from fresh noise where the canvas
is new or the region is to change; the rest of the picture is kept as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL.Image import Image

from bot.core.errors import UserError
from engine.canvas import (
    DIRECTIONS,
    LARGEST_ZOOM,
    REGIONS,
    SMALLEST_ZOOM,
    Canvas,
    Direction,
    make_square,
    pan,
    panned_size,
    squared_size,
    vary_region,
    zoom_out,
)
from storage.models import EventKind
from storage.parameters import JobParameters

Tool = Literal["zoom_out", "pan", "make_square", "vary_region"]
# Longest new prompt an edit takes (a Discord modal's text field holds up to 4000).
LONGEST_PROMPT = 1000
# Each picture is drawn from fresh noise where the model draws.
EDIT_STRENGTH = 1.0


@dataclass(frozen=True)
class EditRequest:
    tool: Tool
    zoom: float | None = None
    direction: Direction | None = None
    regions: tuple[str, ...] | None = None
    prompt: str | None = None
    """A new prompt for the grid (Custom Zoom, Vary Region); None keeps the picture's."""

    def __post_init__(self) -> None:
        """Refuses what no canvas can be made of, saying what would be right."""
        zoom = self.zoom
        if self.tool == "zoom_out" and (zoom is None or not SMALLEST_ZOOM <= zoom <= LARGEST_ZOOM):
            raise UserError(f"Zoom out by {SMALLEST_ZOOM:g} to {LARGEST_ZOOM:g} times, not {zoom}.")
        if self.tool == "pan" and self.direction not in DIRECTIONS:
            raise UserError(f"Pan goes {', '.join(DIRECTIONS)}, not {self.direction!r}.")
        if self.tool == "vary_region":
            unknown = [name for name in self.regions or () if name not in REGIONS]
            if unknown or not self.regions:
                raise UserError(
                    f"Vary Region redraws one or more of {', '.join(REGIONS)}"
                    + (f"; not {', '.join(unknown)}." if unknown else ".")
                )
        if self.prompt is not None and len(self.prompt) > LONGEST_PROMPT:
            raise UserError(f"A new prompt is at most {LONGEST_PROMPT} characters.")

    @property
    def click(self) -> EventKind:
        return EventKind(self.tool)

    def parameters(
        self, picture_size: tuple[int, int], multiple: int, steps: int, guidance: float, count: int
    ) -> JobParameters:
        """The job's recipe: drawn at the canvas's size, the picture placed at ``picture_size``."""
        if self.tool == "make_square" and picture_size[0] == picture_size[1]:
            raise UserError("This picture is square already.")
        width, height = self._canvas_size(picture_size, multiple)
        return JobParameters(
            width=width,
            height=height,
            source_width=picture_size[0],
            source_height=picture_size[1],
            steps=steps,
            guidance=guidance,
            count=count,
            edit=self.tool,
            zoom=self.zoom,
            direction=self.direction,
            regions=self.regions,
        )

    def _canvas_size(self, size: tuple[int, int], multiple: int) -> tuple[int, int]:
        if self.tool == "pan":
            assert self.direction is not None
            return panned_size(size, self.direction, multiple)
        if self.tool == "make_square":
            return squared_size(size, multiple)
        return size


def edit_of(parameters: JobParameters) -> EditRequest:
    """The edit a job's recipe asks for (its prompt is the job's)."""
    assert parameters.edit is not None
    return EditRequest(
        parameters.edit,
        zoom=parameters.zoom,
        direction=parameters.direction,
        regions=parameters.regions,
    )


def canvas_for(edit: EditRequest, picture: Image, multiple: int) -> Canvas:
    """Where the picture goes and what the model draws, for the job's edit."""
    if edit.tool == "zoom_out":
        assert edit.zoom is not None
        return zoom_out(picture, edit.zoom)
    if edit.tool == "pan":
        assert edit.direction is not None
        return pan(picture, edit.direction, multiple)
    if edit.tool == "make_square":
        return make_square(picture, multiple)
    assert edit.regions is not None
    return vary_region(picture, edit.regions)
