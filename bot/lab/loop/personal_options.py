"""What ``loop-demo --personal`` is asked to do, checked before anything heavy is loaded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.lab.loop.taste import TASTES
from engine.train.limits import MOST_EXTRAPOLATION
from engine.train.options import Method


class PersonalOptions(BaseModel):
    """What ``loop-demo --personal`` is asked to do, checked before anything heavy loads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tastes: tuple[str, str] = Field(
        ("larger", "smaller"), description="The two groups' opposite tastes."
    )
    people_per_group: int = Field(3, ge=1, description="Simulated people in each group.")
    control_people: int = Field(2, ge=1, description="People who click at random.")
    grids_per_person: int = Field(
        20, ge=1, description="Rounds of everyone using the bot before the proof."
    )
    test_rounds: int = Field(
        4,
        ge=0,
        description="Rounds at most, after those, for the flywheel's blind tests still "
        "collecting votes.",
    )
    ratings_per_round: int = Field(
        2,
        ge=0,
        description="/rate pairs each person answers after each round of using the bot (before "
        "the proof).",
    )
    comparison_grids_per_person: int = Field(
        8, ge=1, description="Prompts each person imagines per blind panel of the proof."
    )
    steps: int = Field(12, ge=1, description="Denoising steps of every grid.")
    profile_min_signals: int = Field(
        60, ge=1, description="Signals a person gives before their profile is first trained."
    )
    min_votes: int = Field(8, ge=1, description="Votes a candidate collects before it is judged.")
    method: Method = Field(
        "dpo", description="How the flywheel trains each profile (PICKLOOP_FLYWHEEL_METHOD)."
    )
    train_steps: int = Field(60, ge=1, description="Training steps of each profile's adapter.")
    train_batch: int = Field(16, ge=1, description="Pictures per training step.")
    extrapolate: float = Field(
        8.0,
        ge=1,
        le=MOST_EXTRAPOLATION,
        description="Adapters written as this many times the change training made.",
    )
    seed: int = Field(0, ge=0, description="The people, their prompts and the training.")

    @field_validator("tastes")
    @classmethod
    def _known_tastes(cls, tastes: tuple[str, str]) -> tuple[str, str]:
        for taste in tastes:
            if taste not in TASTES:
                raise ValueError(f"a taste is one of {', '.join(TASTES)}")
        if tastes[0] == tastes[1]:
            raise ValueError("the two groups need two different tastes")
        return tastes
