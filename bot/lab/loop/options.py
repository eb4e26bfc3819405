"""What the loop demo is asked to do, checked before anything heavy is loaded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.loop.recipe import LOOP_TRAINING
from bot.lab.loop.taste import TASTES
from engine.train.options import Method, TrainingOptions

# How the demo fine-tunes unless told otherwise: as the flywheel does.
DEMO_TRAINING = LOOP_TRAINING


class LoopOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    taste: str = Field("larger", description="The simulated people's hidden taste.")
    people: int = Field(8, ge=1, description="Simulated people.")
    grids_per_person: int = Field(
        20,
        ge=1,
        description="Prompts each person imagines while the data is collected (re-rolls come "
        "on top).",
    )
    comparison_grids_per_person: int = Field(
        12, ge=1, description="Prompts each person imagines per blind comparison."
    )
    steps: int = Field(
        12,
        ge=1,
        description="Denoising steps of every grid (fewer than the bot's 20, to fit the demo in "
        "20 minutes on a 2-core CPU).",
    )
    training: TrainingOptions = Field(
        DEMO_TRAINING,
        description="How each method fine-tunes; its method, seed and validation are set per "
        "run, and DPO sees half as many pairs as KTO sees pictures (the same pictures a step).",
    )
    seed: int = Field(0, ge=0, description="The people, their prompts and the training.")
    methods: tuple[Method, ...] = Field(("kto", "dpo"), min_length=1)
    control: bool = True

    @field_validator("taste")
    @classmethod
    def _known_taste(cls, taste: str) -> str:
        if taste not in TASTES:
            raise ValueError(f"the taste is one of {', '.join(TASTES)}")
        return taste
