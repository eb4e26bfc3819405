"""What the loop demo is asked to do, checked before anything heavy is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.errors import UserError
from bot.loop.taste import TASTES

Method = Literal["dpo", "kto"]


@dataclass(frozen=True)
class LoopOptions:
    taste: str = "larger"
    people: int = 8
    grids_per_person: int = 20
    """Prompts each person imagines while the data is collected (re-rolls come on top)."""
    comparison_grids_per_person: int = 12
    """Prompts each panel member imagines per blind comparison."""
    steps: int = 12
    """Denoising steps of every grid (fewer than the bot's 20, to fit the demo in 20 minutes
    on a 2-core CPU)."""
    # Measured on one run's clicks (seed 0), judged without votes on 32 fresh size-open prompts
    # x 4 seeds by the chance that the taste's logit choice picks a tuned picture from a grid of
    # two and two. Batches of 8 for 500 steps at 5e-4: the people's KTO adapter 0.56-0.65, but
    # random-click adapters anywhere from 0.40 to 0.67 as the training seed alone changed,
    # drawing more or fewer things: with so few pictures a step, Adam's noise moves the model
    # as far as the people's taste does. Batches of 32: random clicks 0.51-0.56 over 125 and
    # 250 steps and three training seeds (things drawn large 39% -> 37-41%); the people's
    # adapter 0.64 at 250 steps (39% -> 53%, as many things as before). A lower rate or a pull
    # towards the reference (a KL term) stopped both alike.
    # In the demo itself (seed 0), 500 steps of 32 against 250: KTO won 64.6% of 96 votes
    # against 60.4%, the control 53.1% against 55.2%, in 15.9 minutes against 11.7.
    train_steps: int = 500
    rank: int = 8
    learning_rate: float = 5e-4
    beta: float = 2500.0
    batch_size: int = 32
    """Pictures a training step sees: KTO's labelled pictures, or half as many DPO pairs."""
    average_last: float = 0.0
    """The share of the last training steps whose adapter weights are averaged."""
    timestep_floor: float = 0.0
    """Training draws its timesteps from this share of the schedule up."""
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
        if not self.methods or any(method not in ("dpo", "kto") for method in self.methods):
            raise UserError("the methods are dpo and kto")
