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
    grids_per_person: int = 15
    """Prompts each person imagines while the data is collected (re-rolls come on top)."""
    comparison_grids_per_person: int = 12
    """Prompts each panel member imagines per blind comparison."""
    steps: int = 15
    """Denoising steps of every grid (fewer than the bot's 20, to fit the demo in 20 minutes
    on a 2-core CPU)."""
    # A gentle rate for many steps: at 1e-3 for 250 steps the KTO adapter won the "larger"
    # taste by spoiling pictures (frames, murky backgrounds: the measure counts neither now), and
    # each adapter wandered off in a direction of its own. On the same data, 2e-4 for 750 steps
    # drew larger than the base on 54% of 200 fresh prompts and smaller on 8%; 1e-3 for 250 steps
    # drew larger on 47% of 120 and smaller on 42%.
    train_steps: int = 750
    rank: int = 8
    learning_rate: float = 2e-4
    beta: float = 5000.0
    batch_size: int = 8
    seed: int = 0
    methods: tuple[Method, ...] = ("kto", "dpo")
    control: bool = True

    def __post_init__(self) -> None:
        if self.taste not in TASTES:
            raise UserError(f"--taste is one of {', '.join(TASTES)}")
        for name in ("people", "grids_per_person", "comparison_grids_per_person", "steps"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', ' ')} must be at least 1")
        if not self.methods or any(method not in ("dpo", "kto") for method in self.methods):
            raise UserError("the methods are dpo and kto")
