"""Simulated people: what someone with a hidden taste (or none) does with a grid.

A person with a taste picks the picture to upscale by a logit choice: the chance of each
picture grows with exp(taste / noise), so a clearly better picture usually wins and a close
call is a coin toss, as with real people. When even the best picture of a grid falls short
of what they hoped for, they may re-roll it instead (at most once a prompt); the picture they
upscale gets a ❤️ when it is what they hoped for and a 👎 when it still disappoints them. A
person without a taste (the control) upscales, re-rolls and reacts at random, about as often.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL.Image import Image

from bot.lab.loop.taste import Taste

# A person with no taste re-rolls, loves and dislikes this often; about as often as people
# with a taste do.
RANDOM_REROLL_RATE = 0.15
RANDOM_REACTION_RATE = 0.2
LOVE, DISLIKE = "❤️", "👎"


@dataclass(frozen=True)
class Upscale:
    index: int
    """1-based, as on the U1-U4 buttons."""


@dataclass(frozen=True)
class Reroll:
    pass


Decision = Upscale | Reroll


class SimulatedPerson:
    def __init__(self, name: str, taste: Taste | None, seed: int) -> None:
        self.name = name
        self.taste = taste
        self._rng = random.Random(f"{name}-{seed}")

    def judge(self, pictures: list[Image], may_reroll: bool) -> Decision:
        """What this person does with a grid: upscale one picture, or re-roll the grid."""
        if self.taste is None:
            if may_reroll and self._rng.random() < RANDOM_REROLL_RATE:
                return Reroll()
            return Upscale(self._rng.randrange(len(pictures)) + 1)
        scores = [self.taste(picture) for picture in pictures]
        if may_reroll and self._disappointed(max(scores)):
            return Reroll()
        return Upscale(self._choice(scores) + 1)

    def prefer(self, left: Image, right: Image) -> bool:
        """A /rate answer: True for the left picture. By the same logit choice as a grid's;
        a person without a taste answers at random."""
        if self.taste is None:
            return self._rng.random() < 0.5
        return self._choice([self.taste(left), self.taste(right)]) == 0

    def react(self, upscaled: Image) -> str | None:
        """The reaction, if any, to the picture this person just upscaled: ❤️ when it is what
        they hoped for, 👎 when it still disappoints them."""
        if self.taste is None:
            draw = self._rng.random()
            if draw < RANDOM_REACTION_RATE:
                return LOVE
            return DISLIKE if draw < 2 * RANDOM_REACTION_RATE else None
        score = self.taste(upscaled)
        if self._likely((score - self.taste.love_above) / self.taste.noise):
            return LOVE
        if self._disappointed(score):
            return DISLIKE
        return None

    def _choice(self, scores: list[float]) -> int:
        """A logit choice: the best picture after adding Gumbel noise to each taste/noise."""
        assert self.taste is not None
        noise = self.taste.noise
        noisy = [score / noise - math.log(-math.log(self._rng.random())) for score in scores]
        return max(range(len(scores)), key=noisy.__getitem__)

    def _disappointed(self, best: float) -> bool:
        """Re-roll with a chance that rises as the best picture falls below the person's bar."""
        assert self.taste is not None
        return self._likely((self.taste.reroll_below - best) / self.taste.noise)

    def _likely(self, margin: float) -> bool:
        """True with probability sigmoid(margin)."""
        return self._rng.random() < 1 / (1 + math.exp(-max(-50.0, min(50.0, margin))))
