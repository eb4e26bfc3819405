"""``pickloop train dpo|kto``: fine-tune a LoRA adapter on exported preference data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from bot.cli.common import JsonOption, WaitOption, acting_person, fail, read_settings
from bot.cli.job_reports import produce
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
OnClusterOption = Annotated[
    bool,
    typer.Option(
        "--on-cluster",
        help="Train as a task on the Ray cluster at PICKLOOP_RAY_ADDRESS (one GPU), which "
        "writes the adapter back here.",
    ),
]


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
        wait: WaitOption = True,
        as_json: JsonOption = False,
        on_cluster: OnClusterOption = False,
    ) -> None:
        _train(training, data, out, work, model, wait, as_json, on_cluster)

    command.__doc__ = _ABOUT[method]
    train_app.command(method)(command)


def _train(
    options: TrainingOptions,
    data: str,
    out: Path,
    work: Path | None,
    model: str | None,
    wait: bool,
    as_json: bool,
    on_cluster: bool,
) -> None:
    """Queue the fine-tune as a job, then run it here with its progress bar, or leave it to a
    worker (``--no-wait``)."""
    from bot.core.models.fine_tune import training_source

    actor = acting_person(read_settings(), None)
    try:
        # Data that is not there, or not what the method trains on, is refused before the
        # database is opened (or made).
        training_source(data, options.method)
    except UserError as error:
        fail(str(error), 2)
    produce(
        as_json,
        lambda opened: opened.data_jobs.fine_tune(
            actor, options, data=data, out=out, work=work, model=model, on_cluster=on_cluster
        ),
        wait=wait,
    )


for _method in ("dpo", "kto"):
    _register(_method)
