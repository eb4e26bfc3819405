"""What the loop demo is asked to do, checked before anything heavy is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.core.errors import UserError
from bot.lab.loop.taste import TASTES
from engine.train.limits import MOST_EXTRAPOLATION

Method = Literal["dpo", "kto"]


@dataclass(frozen=True)
class LoopOptions:
    taste: str = "larger"
    people: int = 8
    grids_per_person: int = 20
    """Prompts each person imagines while the data is collected (re-rolls come on top). Twice as
    many did not move the model further (people's adapters 0.63 and 0.59 at 250 steps)."""
    comparison_grids_per_person: int = 12
    """Prompts each panel member imagines per blind comparison."""
    steps: int = 12
    """Denoising steps of every grid (fewer than the bot's 20, to fit the demo in 20 minutes
    on a 2-core CPU)."""
    # Measured on one run's clicks (seed 0), judged without votes on 32 fresh size-open prompts
    # x 4 seeds by the chance that the taste's logit choice picks a tuned picture from a grid of
    # two and two. Batches of 8 for 500 steps at 5e-4: the people's KTO adapter 0.56-0.65, but
    # random-click adapters anywhere from 0.40 to 0.67 as the training seed alone changed: with
    # so few pictures a step, Adam's noise moves the model as far as the people's taste does.
    # Batches of 32 steadied it. 250 steps of 32 (judged on 96 prompts, training seeds 0 and 1:
    # people 0.60 and 0.64, random clicks 0.47 and 0.52) did as well as 500 (people 0.63, random
    # 0.52), in half the training time: 19 minutes with steps of 0.6 s (27 with 0.9 s). A higher
    # rate (1e-3), even with the last half of the steps averaged, let random clicks reach 0.67.
    train_steps: int = 250
    rank: int = 8
    learning_rate: float = 5e-4
    beta: float = 2500.0
    batch_size: int = 32
    """Pictures a training step sees: KTO's labelled pictures, or half as many DPO pairs."""
    average_last: float = 0.0
    """The share of the last training steps whose adapter weights are averaged."""
    timestep_floor: float = 0.0
    """Training draws its timesteps from this share of the schedule up."""
    adapt_convolutions: bool = False
    """The adapters reach the UNet's ResNet convolutions too, not only its attention."""
    extrapolate: float = 3.0
    """Adapters are written as this many times the change training made (ExPO). The training
    learns the people's direction but stops short: on one run's clicks (seed 0, judged without
    votes on 96 fresh prompts x 4 seeds), the people's KTO adapter scored 0.59 as trained, 0.64
    doubled and 0.67 tripled, while the random clicks' adapter stayed at 0.51, 0.50 and 0.50:
    going further along a direction that holds no taste goes nowhere in particular."""
    seed: int = 0
    methods: tuple[Method, ...] = ("kto", "dpo")
    control: bool = True

    def __post_init__(self) -> None:
        if self.taste not in TASTES:
            raise UserError(f"--taste is one of {', '.join(TASTES)}")
        for name in ("people", "grids_per_person", "comparison_grids_per_person", "steps"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', ' ')} must be at least 1")
        for name in ("average_last", "timestep_floor"):
            if not 0 <= getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', ' ')} must be at least 0 and below 1")
        if not 0 < self.extrapolate <= MOST_EXTRAPOLATION:
            raise UserError(f"--extrapolate is above 0 and at most {MOST_EXTRAPOLATION:g}")
        if not self.methods or any(method not in ("dpo", "kto") for method in self.methods):
            raise UserError("the methods are dpo and kto")
