"""Hidden tastes: what a simulated person likes in a picture, as a number.

A taste is measured on the pixels alone, never on the prompt or the model, so whatever a tuned
model learns from people with that taste shows up in the same number (``taste_before`` and
``taste_after`` of the loop demo). Each taste is something the embedded model's prompts leave
open, so a picture can please more or less while still following its prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL.Image import Image

# How far (Euclidean, in 0-255 RGB) a pixel must be from the background to belong to a thing:
# well above the model's speckle, well below any two of the toy world's colours.
_FOREGROUND_DISTANCE = 60.0


def _rgb(picture: Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB"), dtype=np.float64)


def _background(pixels: np.ndarray) -> np.ndarray:
    """The background colour: the median of the border pixels (things rarely cover it all)."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    median: np.ndarray = np.median(border, axis=0)
    return median


def coverage(picture: Image) -> float:
    """The share of the picture that is not background: how large the things are drawn."""
    pixels = _rgb(picture)
    distance = np.sqrt(((pixels - _background(pixels)) ** 2).sum(axis=-1))
    return float((distance > _FOREGROUND_DISTANCE).mean())


def redness(picture: Image) -> float:
    """How red the picture is: the mean of red above the larger of green and blue, 0 to 1."""
    pixels = _rgb(picture)
    excess = pixels[..., 0] - np.maximum(pixels[..., 1], pixels[..., 2])
    return float(np.clip(excess, 0, None).mean() / 255)


@dataclass(frozen=True)
class Taste:
    name: str
    measure: Callable[[Image], float]
    # A difference of this much between two pictures makes the better one e times as likely
    # to be chosen: the people's noise, in the taste's own units. The embedded model draws
    # much the same picture from every seed of a prompt (a grid's pictures differ by a few
    # pixels), so people who are to tell its pictures apart must be this discerning.
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
            noise=0.002,
            reroll_below=0.07,
            love_above=0.15,
            description="prefers the things drawn larger (share of the picture)",
        ),
        Taste(
            name="redder",
            measure=redness,
            noise=0.002,
            reroll_below=0.005,
            love_above=0.05,
            description="prefers redder pictures (red above green and blue)",
        ),
    )
}
