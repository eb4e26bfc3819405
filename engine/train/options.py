"""How a fine-tuning run is asked to train: one model with its bounds and descriptions.

The trainer reads it, ``pickloop train`` and the loop demo make their options from it (the
flags, their help and their limits come from the fields), and a fine-tune job stores it as its
parameters. Why the defaults are what they are, measured: docs/training-options.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.train.limits import MOST_EXTRAPOLATION

Method = Literal["dpo", "kto"]
Precision = Literal["no", "fp16", "bf16"]


def _flag(name: str) -> dict[str, Any]:
    """The command-line flag of a field whose name would make a clumsy one."""
    return {"flag": name}


class TrainingOptions(BaseModel):
    # Frozen: a run's options are written into its checkpoints and its adapter's card, and a
    # resumed run must be asked the same. Unknown names are refused, not ignored.
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = Field("dpo", description="dpo (preference pairs) or kto (labelled pictures).")
    rank: int = Field(8, ge=1, le=256, description="The LoRA adapter's rank.")
    steps: int = Field(200, ge=1, description="Optimizer steps.")
    learning_rate: float = Field(
        1e-4, gt=0, description="AdamW's learning rate.", json_schema_extra=_flag("--lr")
    )
    beta: float = Field(
        2500.0,
        gt=0,
        description="Diffusion-DPO's beta, with T * omega(lambda_t) folded in.",
    )
    batch_size: int = Field(
        8,
        ge=1,
        description="Examples a step sees (pairs for dpo, pictures for kto).",
        json_schema_extra=_flag("--batch"),
    )
    accumulate: int = Field(1, ge=1, description="Batches whose gradients make one step.")
    seed: int = Field(0, ge=0, description="Everything random comes from it.")
    mixed_precision: Precision = Field(
        "no", description="no, fp16 or bf16 (autocast, on a GPU only)."
    )
    validate_every: int = Field(50, ge=1, description="Steps between validations.")
    checkpoint_every: int = Field(50, ge=1, description="Steps between checkpoints.")
    desirable_weight: float = Field(1.0, gt=0, description="KTO: the weight of liked pictures.")
    undesirable_weight: float = Field(
        1.0, gt=0, description="KTO: the weight of pictures passed over."
    )
    balanced_batches: bool = Field(
        False,
        description="KTO: every batch half desirable pictures (the odd one undesirable), "
        "instead of a plain draw.",
    )
    average_last: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="End on the mean adapter of this share of the last steps (0: the last step's).",
    )
    timestep_floor: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Draw timesteps from this share of the schedule up "
        "(0: all; 0.5: the noisier half, where layout and colours settle).",
    )
    adapt_convolutions: bool = Field(
        False,
        description="Adapt the UNet's ResNet convolutions too, not only its attention "
        "(about an eighth more a step).",
        json_schema_extra=_flag("--convolutions/--attention-only"),
    )
    extrapolate: float = Field(
        1.0,
        gt=0,
        le=MOST_EXTRAPOLATION,
        description="Write the adapter as this many times the change training made "
        "(ExPO; 1: as trained).",
    )

    @property
    def first_averaged_step(self) -> int:
        """The first step whose weights go into the average (past the last: no average)."""
        return self.steps - round(self.steps * self.average_last) + 1

    def changed(self, **changes: Any) -> TrainingOptions:
        """These options with some changed, checked again (``model_copy`` would not check)."""
        return TrainingOptions.model_validate(self.model_dump() | changes)


def options_problem(error: ValidationError, names: Mapping[str, str] | None = None) -> str:
    """A refused set of options in one line: each one, called as ``names`` says (its flag, say),
    and what is wrong with it."""
    problems = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"])
        where = (names or {}).get(field, field or "options")
        problems.append(f"{where}: {detail['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)
