"""Image prompts: pictures given with a prompt (an ``/imagine`` attachment, ``/blend``'s two to
five, ``pickloop imagine --image``), checked before anything is queued.

A grid with image prompts starts from them: image-to-image from their blend
(``engine.blending``) at a strength that follows ``--iw``, the image weight (0 to 3, as
Midjourney's): the higher it is, the more of the given picture the grid keeps.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import PIL.Image
import PIL.ImageOps
from PIL.Image import Image

from bot.core.errors import UserError
from storage.imagestore import encode_png

MOST_IMAGE_PROMPTS = 5
# Larger pictures are refused before they are decoded: a small file can unpack to gigabytes.
MOST_PIXELS = 4096 * 4096
# What Discord shows and phones send; anything else is refused by name.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
DEFAULT_IMAGE_WEIGHT = 1.0
LARGEST_IMAGE_WEIGHT = 3.0
# Image-to-image strength at --iw 0 (the picture barely counts) and what each unit of weight
# takes off: --iw 1 redraws 70% of the way, --iw 3 keeps nearly all of the picture.
_STRENGTH_AT_NO_WEIGHT = 1.0
_STRENGTH_PER_WEIGHT = 0.3


@dataclass(frozen=True)
class Upload:
    """A file as it was given: its name (for messages) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class ImagePrompts:
    """Checked image prompts: the pictures, upright and in RGB."""

    pictures: tuple[Image, ...]

    def __len__(self) -> int:
        return len(self.pictures)

    @cached_property
    def encoded(self) -> tuple[bytes, ...]:
        """The PNG each is kept as; made when first asked for (by the job that keeps them, not
        by a front end that only checks them first). Slow for big photos: off the event loop."""
        return tuple(encode_png(picture) for picture in self.pictures)


NO_IMAGE_PROMPTS = ImagePrompts(())


def read_uploads(uploads: Sequence[Upload], max_bytes: int) -> ImagePrompts:
    """The uploads as pictures, or UserError naming the first that is too many, too heavy, too
    large or not a picture. Slow for big photos: run it off the event loop."""
    if len(uploads) > MOST_IMAGE_PROMPTS:
        raise UserError(
            f"At most {MOST_IMAGE_PROMPTS} image prompts go with one prompt; "
            f"{len(uploads)} were given."
        )
    return ImagePrompts(tuple(_picture(upload, max_bytes) for upload in uploads))


def check_upload_size(name: str, size: int, max_bytes: int) -> None:
    """Refuse a file by its size alone, before it is fetched."""
    if size > max_bytes:
        raise UserError(
            f"{name} weighs {_megabytes(size)}; an image prompt may weigh at most "
            f"{_megabytes(max_bytes)}."
        )


def strength_for(weight: float) -> float:
    """The image-to-image strength a grid with image prompts is drawn at, for its ``--iw``."""
    return max(0.05, _STRENGTH_AT_NO_WEIGHT - _STRENGTH_PER_WEIGHT * weight)


def aspect_of(picture: Image, low: Fraction, high: Fraction) -> tuple[int, int]:
    """The picture's shape as a small W:H ratio, within ``low`` to ``high``: a grid started
    from a picture takes its shape unless ``--ar`` says otherwise."""
    ratio = min(max(Fraction(picture.width, picture.height), low), high)
    ratio = ratio.limit_denominator(16)
    return ratio.numerator, ratio.denominator


def _picture(upload: Upload, max_bytes: int) -> Image:
    check_upload_size(upload.name, len(upload.data), max_bytes)
    not_a_picture = UserError(
        f"{upload.name} is not a picture pickloop can read; give a {', '.join(FORMATS)} file."
    )
    try:
        with warnings.catch_warnings():
            # PIL warns, then raises, on huge pictures; the size check below says it plainly.
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            opened = PIL.Image.open(io.BytesIO(upload.data))
    except (PIL.UnidentifiedImageError, PIL.Image.DecompressionBombError, OSError):
        raise not_a_picture from None
    if opened.format not in FORMATS:
        raise not_a_picture
    if opened.width * opened.height > MOST_PIXELS:
        raise UserError(
            f"{upload.name} is {opened.width}x{opened.height}; an image prompt may hold at most "
            f"{MOST_PIXELS // 1_000_000} million pixels."
        )
    try:
        # A phone's photo is stored sideways with a note to turn it; the person saw it upright.
        return PIL.ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, SyntaxError):
        # Truncated or damaged past its header.
        raise not_a_picture from None


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
