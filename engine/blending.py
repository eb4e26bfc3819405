"""The picture an image prompt starts from: each given picture cropped to the grid's shape
(covering it, as a phone's photo fills a frame) and, for a blend, mixed evenly.

Torch-free. The mix is made in pixels and then redrawn by image-to-image: a double exposure of
the pictures, which the model turns into one picture holding something of each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image as PILImage
from PIL.Image import Image, Resampling


def cover(picture: Image, size: tuple[int, int]) -> Image:
    """``picture`` scaled to fill ``size`` and cropped evenly on the sides that overflow."""
    width, height = size
    scale = max(width / picture.width, height / picture.height)
    scaled = (max(width, round(picture.width * scale)), max(height, round(picture.height * scale)))
    resized = picture.convert("RGB").resize(scaled, Resampling.LANCZOS)
    left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
    return resized.crop((left, top, left + width, top + height))


def blend(pictures: Sequence[Image], size: tuple[int, int]) -> Image:
    """The pictures, each covering ``size``, mixed with equal shares."""
    if not pictures:
        raise ValueError("a blend needs at least one picture")
    layers = np.stack([np.asarray(cover(picture, size), dtype=np.float32) for picture in pictures])
    return PILImage.fromarray(np.rint(layers.mean(axis=0)).astype(np.uint8), "RGB")
