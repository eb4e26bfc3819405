"""``pickloop train dpo|kto``: fine-tune a LoRA adapter on exported preference data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from bot.cli.common import fail, read_settings
from bot.core.errors import UserError
from engine.train.limits import MOST_EXTRAPOLATION

train_app = typer.Typer(
    help="Fine-tune a LoRA adapter of the serving model on preference data.",
    no_args_is_help=True,
)

DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        help="A pickloop export folder (pairs for dpo, kto for kto), or hub:OWNER/NAME for a "
        "dataset on the Hugging Face hub.",
    ),
]
OutOption = Annotated[Path, typer.Option("--out", help="The adapter folder to write.")]
WorkOption = Annotated[
    Path | None,
    typer.Option("--work", help="Checkpoints; run again with the same one to resume."),
]
ModelOption = Annotated[
    str | None, typer.Option("--model", help="The base model; default PICKLOOP_MODEL.")
]
RankOption = Annotated[int, typer.Option("--rank", min=1, max=256)]
StepsOption = Annotated[int, typer.Option("--steps", min=1)]
RateOption = Annotated[float, typer.Option("--lr", min=0.0)]
BetaOption = Annotated[float, typer.Option("--beta", min=0.0)]
BatchOption = Annotated[int, typer.Option("--batch", min=1)]
AccumulateOption = Annotated[int, typer.Option("--accumulate", min=1)]
SeedOption = Annotated[int, typer.Option("--seed", min=0)]
PrecisionOption = Annotated[
    str, typer.Option("--mixed-precision", help="no, fp16 or bf16 (a GPU only).")
]
ValidateOption = Annotated[int, typer.Option("--validate-every", min=1)]
AverageOption = Annotated[
    float,
    typer.Option(
        "--average-last",
        min=0.0,
        max=0.99,
        help="End on the mean adapter of this share of the last steps (0: the last step's).",
    ),
]
FloorOption = Annotated[
    float,
    typer.Option(
        "--timestep-floor",
        min=0.0,
        max=0.99,
        help="Draw timesteps from this share of the schedule up (0: all; 0.5: the noisier half).",
    ),
]
ConvolutionsOption = Annotated[
    bool,
    typer.Option(
        "--convolutions/--attention-only",
        help="Adapt the UNet's ResNet convolutions too, not only its attention.",
    ),
]
ExtrapolateOption = Annotated[
    float,
    typer.Option(
        "--extrapolate",
        min=0.01,
        max=MOST_EXTRAPOLATION,
        help="Write the adapter as this many times the change training made (ExPO; 1: as trained).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


_ABOUT = {
    "dpo": "Diffusion-DPO on preference pairs (the Pick-a-Pic layout of `pickloop export "
    "--format pairs`).",
    "kto": "Diffusion-KTO on pictures labelled good or bad (`pickloop export --format kto`).",
}


def _register(method: Literal["dpo", "kto"]) -> None:
    """The `train dpo` and `train kto` commands: the same options, another loss and data."""

    def command(
        data: DataOption,
        out: OutOption,
        work: WorkOption = None,
        model: ModelOption = None,
        rank: RankOption = 8,
        steps: StepsOption = 200,
        lr: RateOption = 1e-4,
        beta: BetaOption = 2500.0,
        batch: BatchOption = 8,
        accumulate: AccumulateOption = 1,
        seed: SeedOption = 0,
        mixed_precision: PrecisionOption = "no",
        validate_every: ValidateOption = 50,
        average_last: AverageOption = 0.0,
        timestep_floor: FloorOption = 0.0,
        convolutions: ConvolutionsOption = False,
        extrapolate: ExtrapolateOption = 1.0,
        as_json: JsonOption = False,
    ) -> None:
        training = {
            "rank": rank,
            "steps": steps,
            "learning_rate": lr,
            "beta": beta,
            "batch_size": batch,
            "accumulate": accumulate,
            "seed": seed,
            "mixed_precision": mixed_precision,
            "validate_every": validate_every,
            "average_last": average_last,
            "timestep_floor": timestep_floor,
            "adapt_convolutions": convolutions,
            "extrapolate": extrapolate,
        }
        _train(method, data, out, work, model, training, as_json)

    command.__doc__ = _ABOUT[method]
    train_app.command(method)(command)


def _train(
    method: Literal["dpo", "kto"],
    data: str,
    out: Path,
    work: Path | None,
    model: str | None,
    training: dict[str, Any],
    as_json: bool,
) -> None:
    """Train with `training` (PreferenceOptions' fields, as the options gave them)."""
    from bot.core.models.fine_tune import fine_tune
    from engine.train.preference import PreferenceOptions

    if training["mixed_precision"] not in ("no", "fp16", "bf16"):
        fail("--mixed-precision is no, fp16 or bf16", 2)
    settings = read_settings()
    try:
        options = PreferenceOptions(method=method, **training)
        done = fine_tune(
            options, data, out, settings=settings, model=model, work=work, progress=not as_json
        )
    except (ValueError, UserError) as error:
        fail(str(error), 2)
    if as_json:
        print(json.dumps(done.to_json()))
        return
    print(f"adapter: {done.adapter} ({done.steps} steps, {done.seconds:.0f} s)")
    if done.implicit_accuracy is not None:
        print(f"validation implicit accuracy: {done.implicit_accuracy:.1%}")


for _method in ("dpo", "kto"):
    _register(_method)
