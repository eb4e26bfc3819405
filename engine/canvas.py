"""Where a picture goes on a new canvas, and which part of it the model draws: zoom out, pan,
make square and vary region (Midjourney's tools after an upscale), for an inpainting request
(``GenerationRequest.mask``).

Torch-free: only the geometry. Sizes stay multiples of what the model can draw; the part the
model draws is marked white in the mask, the kept picture black.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image as PILImage
from PIL.Image import Image, Resampling

from engine.imaging import fit_to_multiple

Direction = Literal["left", "right", "up", "down"]
DIRECTIONS: tuple[Direction, ...] = ("left", "right", "up", "down")
# Midjourney's pan grows the canvas by about half on the side it goes to.
PAN_SHARE = 0.5
SMALLEST_ZOOM, LARGEST_ZOOM = 1.1, 2.0
DRAWN, KEPT = 255, 0


@dataclass(frozen=True)
class Canvas:
    image: Image
    """The picture where it stays, the rest filled with the colour of its border."""
    mask: Image
    """Mode "L", the canvas's size: white where the model draws, black where it keeps."""
    kept: tuple[int, int, int, int]
    """The box (left, top, right, bottom) the picture, resized, fills on the canvas."""


def zoom_out(picture: Image, factor: float) -> Canvas:
    """The picture smaller by ``factor`` in the centre of a canvas of its own size: the model
    draws the new border around it."""
    if not SMALLEST_ZOOM <= factor <= LARGEST_ZOOM:
        raise ValueError(f"a zoom out is {SMALLEST_ZOOM:g}x to {LARGEST_ZOOM:g}x, not {factor:g}x")
    width, height = picture.size
    inner = (round(width / factor), round(height / factor))
    left, top = (width - inner[0]) // 2, (height - inner[1]) // 2
    return _placed(picture, (width, height), (left, top, left + inner[0], top + inner[1]))


def pan(picture: Image, direction: Direction, multiple: int) -> Canvas:
    """A canvas grown by about half on the ``direction`` side, the picture kept as it is on
    the other: the model continues it."""
    if direction not in DIRECTIONS:
        raise ValueError(f"a pan goes {', '.join(DIRECTIONS)}, not {direction!r}")
    width, height = picture.size
    size = panned_size(picture.size, direction, multiple)
    left = size[0] - width if direction == "left" else 0
    top = size[1] - height if direction == "up" else 0
    return _placed(picture, size, (left, top, left + width, top + height))


def panned_size(size: tuple[int, int], direction: Direction, multiple: int) -> tuple[int, int]:
    """The canvas a pan ``direction`` makes of a picture of ``size``."""
    width, height = size
    across = direction in ("left", "right")
    grown = fit_to_multiple(round((width if across else height) * PAN_SHARE), multiple)
    return (width + grown, height) if across else (width, height + grown)


def squared_size(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """The canvas Make Square makes of a picture of ``size``."""
    side = fit_to_multiple(max(size), multiple)
    return side, side


def make_square(picture: Image, multiple: int) -> Canvas:
    """A square canvas as wide as the picture's longer side, the picture in its middle."""
    width, height = picture.size
    if width == height:
        raise ValueError("the picture is square already")
    side, _ = squared_size(picture.size, multiple)
    left, top = (side - width) // 2, (side - height) // 2
    return _placed(picture, (side, side), (left, top, left + width, top + height))


# What Vary (Region) can redraw, chosen from a list (Discord has no canvas to paint a mask on):
# a half, the centre, or one of nine cells, as (left, top, right, bottom) in thirds or quarters.
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "left-half": (0, 0, 1 / 2, 1),
    "right-half": (1 / 2, 0, 1, 1),
    "top-half": (0, 0, 1, 1 / 2),
    "bottom-half": (0, 1 / 2, 1, 1),
    "centre": (1 / 4, 1 / 4, 3 / 4, 3 / 4),
    **{
        f"{row}-{column}" if (row, column) != ("middle", "centre") else "middle": (
            x / 3,
            y / 3,
            (x + 1) / 3,
            (y + 1) / 3,
        )
        for y, row in enumerate(("top", "middle", "bottom"))
        for x, column in enumerate(("left", "centre", "right"))
    },
}


def vary_region(picture: Image, regions: Sequence[str]) -> Canvas:
    """The picture where it is, the model to redraw ``regions`` of it (one or several)."""
    unknown = [name for name in regions if name not in REGIONS]
    if unknown or not regions:
        raise ValueError(f"a region is one or more of {', '.join(REGIONS)}; not {unknown}")
    width, height = picture.size
    mask = PILImage.new("L", picture.size, KEPT)
    for name in regions:
        left, top, right, bottom = REGIONS[name]
        box = (
            round(left * width),
            round(top * height),
            round(right * width),
            round(bottom * height),
        )
        mask.paste(DRAWN, box)
    return Canvas(picture.convert("RGB"), mask, (0, 0, width, height))


def _placed(picture: Image, size: tuple[int, int], box: tuple[int, int, int, int]) -> Canvas:
    picture = picture.convert("RGB")
    inner = (box[2] - box[0], box[3] - box[1])
    resized = picture if picture.size == inner else picture.resize(inner, Resampling.LANCZOS)
    # The border's colour, not grey: it is what the model's first look at the new part sees
    # through the noise, and a toy world's background (a sky, a wall) goes on past the edge.
    canvas = PILImage.new("RGB", size, _border_colour(picture))
    canvas.paste(resized, box[:2])
    mask = PILImage.new("L", size, DRAWN)
    mask.paste(KEPT, box)
    return Canvas(canvas, mask, box)


def _border_colour(picture: Image) -> tuple[int, int, int]:
    """The median colour of the picture's outermost pixels."""
    pixels = np.asarray(picture)
    edges = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    red, green, blue = (int(value) for value in np.median(edges, axis=0))
    return red, green, blue
