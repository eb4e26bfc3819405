"""``pickloop train dpo|kto``: fine-tune a LoRA adapter on exported preference data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from bot.cli.common import fail, read_settings
from bot.cli.training_flags import training_flags
from bot.core.errors import UserError
from engine.train.options import TrainingOptions

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
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


_ABOUT = {
    "dpo": "Diffusion-DPO on preference pairs (the Pick-a-Pic layout of `pickloop export "
    "--format pairs`).",
    "kto": "Diffusion-KTO on pictures labelled good or bad (`pickloop export --format kto`).",
}


def _register(method: Literal["dpo", "kto"]) -> None:
    """The `train dpo` and `train kto` commands: the same options, another loss and data."""

    @training_flags(TrainingOptions(method=method))
    def command(
        data: DataOption,
        out: OutOption,
        training: TrainingOptions,
        work: WorkOption = None,
        model: ModelOption = None,
        as_json: JsonOption = False,
    ) -> None:
        _train(training, data, out, work, model, as_json)

    command.__doc__ = _ABOUT[method]
    train_app.command(method)(command)


def _train(
    options: TrainingOptions,
    data: str,
    out: Path,
    work: Path | None,
    model: str | None,
    as_json: bool,
) -> None:
    from bot.core.models.fine_tune import fine_tune

    settings = read_settings()
    try:
        done = fine_tune(
            options, data, out, settings=settings, model=model, work=work, progress=not as_json
        )
    except UserError as error:
        fail(str(error), 2)
    if as_json:
        print(json.dumps(done.to_json()))
        return
    print(f"adapter: {done.adapter} ({done.steps} steps, {done.seconds:.0f} s)")
    if done.implicit_accuracy is not None:
        print(f"validation implicit accuracy: {done.implicit_accuracy:.1%}")


for _method in ("dpo", "kto"):
    _register(_method)
