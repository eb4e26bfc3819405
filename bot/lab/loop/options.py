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
    """Prompts each person imagines while the data is collected (re-rolls come on top). Why
    these defaults, measured: docs/training-options.md."""
    comparison_grids_per_person: int = 12
    """Prompts each panel member imagines per blind comparison."""
    steps: int = 12
    """Denoising steps of every grid (fewer than the bot's 20, to fit the demo in 20 minutes
    on a 2-core CPU)."""
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
    """Adapters are written as this many times the change training made (ExPO): training
    learns the people's direction but stops short of it."""
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
