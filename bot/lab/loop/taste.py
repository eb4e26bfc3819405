"""Hidden tastes: what a simulated person likes in a picture, as a number.

A taste is measured on the pixels alone, never on the prompt or the model, so whatever a tuned
model learns from people with that taste shows up in the same number (``taste_before`` and
``taste_after`` of the loop demo). Each taste is about one attribute its people leave unsaid in
their prompts (:attr:`Taste.leaves_open`): asked for "a circle on a blue background", the
embedded model draws it small in some seeds and large in others, and people who like large
things upscale the large ones. A model that learned from them draws large more often when the
prompt does not say, which is what wins their blind votes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL.Image import Image

from engine.toy.judge import SIDE, things


def _rgb(picture: Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB"), dtype=np.float64)


# The most of a picture the toy world's things ever cover: two large squares take 38%. A picture
# whose "things" cover more has lost its background.
_MOST_COVERED = 0.5


def coverage(picture: Image) -> float:
    """The share of the picture its things cover: how large they are drawn.

    Things are what the toy world's judge sees on the background (connected regions of one
    palette colour). A tuned model must not please these people by spoiling its pictures, so
    regions that run into the picture's edge (a frame, a smeared background: no drawn thing
    touches the edge) and pixels of no palette colour count for nothing, and a picture whose
    things would cover more than any scene's can scores nothing at all.
    """
    covered = sum(blob.area for blob in things(picture) if not blob.touches_edge) / SIDE**2
    return covered if covered <= _MOST_COVERED else 0.0


# What "smaller" measures from: a share of the picture no drawn thing of the toy world reaches.
_SMALLNESS_TOP = 0.25


def smallness(picture: Image) -> float:
    """How small its things are drawn: the share of the picture they leave uncovered, below
    ``_SMALLNESS_TOP``. A picture with nothing drawn (or spoiled: see ``coverage``) scores
    nothing, so that a model cannot please these people by drawing nothing."""
    covered = coverage(picture)
    return max(0.0, _SMALLNESS_TOP - covered) if covered > 0 else 0.0


def redness(picture: Image) -> float:
    """How red the picture is: the mean of red above the larger of green and blue, 0 to 1."""
    pixels = _rgb(picture)
    excess = pixels[..., 0] - np.maximum(pixels[..., 1], pixels[..., 2])
    return float(np.clip(excess, 0, None).mean() / 255)


@dataclass(frozen=True)
class Taste:
    name: str
    measure: Callable[[Image], float]
    leaves_open: str
    """The attribute these people never name in a prompt (one of the toy captions'
    ``OPEN_ATTRIBUTES``): what they leave to the model, and judge it by."""
    # A difference of this much between two pictures makes the better one e times as likely
    # to be chosen: the people's noise, in the taste's own units.
    noise: float
    # Below this, a grid's best picture is a disappointment more often than not (a re-roll,
    # or a 👎 on the picture they upscaled all the same).
    reroll_below: float
    # Above this, the picture they upscaled gets a ❤️ more often than not.
    love_above: float
    description: str

    def __call__(self, picture: Image) -> float:
        return self.measure(picture)


TASTES: dict[str, Taste] = {
    taste.name: taste
    for taste in (
        Taste(
            name="larger",
            measure=coverage,
            leaves_open="size",
            # One thing covers about 4% of the picture drawn small, 13% drawn large.
            noise=0.02,
            reroll_below=0.07,
            love_above=0.15,
            description="prefers the things drawn larger (share of the picture)",
        ),
        Taste(
            name="smaller",
            measure=smallness,
            leaves_open="size",
            # Drawn small a thing scores about 0.21, drawn large 0.12: the mirror of "larger".
            noise=0.02,
            reroll_below=0.15,
            love_above=0.20,
            description="prefers the things drawn smaller (share of the picture left free)",
        ),
        Taste(
            name="redder",
            measure=redness,
            leaves_open="colour",
            # A large red thing adds about 0.13, a large orange one 0.05.
            noise=0.02,
            reroll_below=0.005,
            love_above=0.05,
            description="prefers redder pictures (red above green and blue)",
        ),
    )
}
