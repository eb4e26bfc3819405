"""Prompt weights: Midjourney's multi-prompts read into parts, refused when they cannot be
read, and drawn by the embedded model through compel (the heavier part shows)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL.Image import Image

from engine import EMBEDDED_MODEL, LocalEngine
from engine.prompt_weights import Part, PromptWeightError, compel_prompt, is_weighted, parts
from tests.engine.support import RequestFactory, pixel_distance


def test_a_multi_prompt_is_read_into_weighted_parts() -> None:
    assert parts("hot:: dog") == [Part("hot", 1.0), Part("dog", 1.0)]
    assert parts("a castle::2 fog::-0.5 rain") == [
        Part("a castle", 2.0),
        Part("fog", -0.5),
        Part("rain", 1.0),
    ]
    assert (
        compel_prompt('a "big" castle::2 fog::.5') == '("a \\"big\\" castle", "fog").blend(2, 0.5)'
    )
    # A single part with its weight of 1 is the prompt itself; term weights pass to compel.
    assert compel_prompt("a (red)1.4 door") == "a (red)1.4 door"
    assert is_weighted("a (red)1.4 door") and is_weighted("a::b")
    assert not is_weighted("a red door (at night)") and not is_weighted("12:30 at the station")


@pytest.mark.parametrize(
    ("prompt", "refusal"),
    [
        ("::2 a castle", "A part of a multi-prompt is empty"),
        ("a castle::1 fog::-1", "must add up to more than 0"),
        ("a castle::1000", "from -100 to 100"),
        ("a ((red)1.4 door::2 fog", "parentheses must pair up"),
    ],
)
def test_a_weighted_prompt_that_cannot_be_read_is_refused(prompt: str, refusal: str) -> None:
    with pytest.raises(PromptWeightError, match=refusal):
        parts(prompt)


def redness(pictures: list[Image]) -> float:
    """How much redder than blue the pictures are, on average, in 0-255 levels."""
    levels = np.stack([np.asarray(picture, dtype=np.float32) for picture in pictures])
    return float((levels[..., 0] - levels[..., 2]).mean())


shipped = RequestFactory(EMBEDDED_MODEL)


async def test_the_heavier_part_of_a_multi_prompt_shows(local_engine: LocalEngine) -> None:
    def grid(prompt: str) -> object:
        return shipped(prompt=prompt, steps=20, seeds=(1, 2, 3, 4))

    more_red = await local_engine.generate(grid("a red circle::3 a blue circle::1"))
    more_blue = await local_engine.generate(grid("a red circle::1 a blue circle::3"))
    stressed = await local_engine.generate(grid("a (red)1.5 circle"))
    plain = await local_engine.generate(grid("a red circle"))

    assert redness(more_red) > redness(more_blue) + 10, (redness(more_red), redness(more_blue))
    moved = [pixel_distance(a, b) for a, b in zip(stressed, plain, strict=True)]
    assert np.mean(moved) > 1.0, moved
