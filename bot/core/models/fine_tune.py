"""Fine-tuning a LoRA adapter of a configured model on an exported preference dataset: what
``pickloop train dpo|kto`` and the loop demo both run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.errors import UserError

if TYPE_CHECKING:
    from bot.config import Settings
    from engine.train.options import Method, TrainingOptions


@dataclass(frozen=True)
class FineTuned:
    adapter: Path
    method: str
    base_model: str
    examples: int
    validation_examples: int
    steps: int
    seconds: float
    implicit_accuracy: float | None
    """On the validation split, at the last validation; None without one."""

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "adapter": str(self.adapter),
            "method": self.method,
            "base_model": self.base_model,
            "examples": self.examples,
            "validation_examples": self.validation_examples,
            "steps": self.steps,
            "seconds": round(self.seconds, 1),
            "seconds_per_step": round(self.seconds_per_step, 3),
            "implicit_accuracy": self.implicit_accuracy,
        }


# Data named so is a Hugging Face hub dataset; anything else is a local folder. A mistyped folder
# must not send the trainer to the network (retrying for half a minute) as if it were a hub id.
HUB_PREFIX = "hub:"
# What each method trains on, as the refusal of other data says it.
_LAYOUT_NAMES: dict[Method, str] = {
    "dpo": "preference pairs (export --format pairs)",
    "kto": "labelled pictures (export --format kto)",
}


def dataset_source(data: str) -> str:
    """What to load for ``--data``: the hub id after ``hub:``, or a local folder that exists.

    UserError, at once, for a folder that is not there."""
    if data.startswith(HUB_PREFIX):
        hub_id = data.removeprefix(HUB_PREFIX).strip()
        if not hub_id:
            raise UserError(f"{data!r} names no dataset; give {HUB_PREFIX}OWNER/NAME")
        return hub_id
    folder = Path(data)
    if not folder.is_dir():
        what = "is a file, not" if folder.exists() else "is not"
        raise UserError(
            f"{data} {what} a dataset folder: give a pickloop export folder, or "
            f"{HUB_PREFIX}OWNER/NAME for a dataset on the Hugging Face hub"
        )
    return str(folder)


def training_source(data: str, method: Method) -> str:
    """``dataset_source``, and for a folder its columns checked against what ``method``
    trains on: UserError at once, before a job is queued that could only fail."""
    source = dataset_source(data)
    folder = Path(source)
    if folder.is_dir():
        from engine.train.data import LABEL_COLUMNS, PAIR_COLUMNS, DataError, check_folder_columns

        try:
            check_folder_columns(folder, PAIR_COLUMNS if method == "dpo" else LABEL_COLUMNS)
        except DataError as error:
            raise UserError(f"{error}: {method} trains on {_LAYOUT_NAMES[method]}") from None
    return source


def default_work(out: Path) -> Path:
    """Where a fine-tune into ``out`` keeps its checkpoints unless told: beside it."""
    return out.with_name(out.name + "-work")


def fine_tune(
    options: TrainingOptions,
    data: str,
    out: Path,
    *,
    settings: Settings,
    model: str | None = None,
    work: Path | None = None,
    progress: bool = True,
    on_step: Callable[[int, int], None] | None = None,
    data_name: str | None = None,
) -> FineTuned:
    """Train an adapter of `model` (default: the configured one) on the dataset `data` (a
    folder, or ``hub:`` and a hub name: pairs for dpo, labels for kto) into `out`, resuming
    from `work`. ``progress``: a bar on the terminal; ``on_step``: told each step and the steps
    in all; ``data_name``: what the adapter's card calls the data (default: `data`).

    UserError when the data or the model cannot be used; nothing is written then.
    """
    source = training_source(data, options.method)
    # Imported only when training: torch and diffusers take seconds to load.
    import torch

    from bot.core.models.local import load_configured
    from engine.train.data import VALIDATION_SPLIT, DataError, load_labels, load_pairs
    from engine.train.preference import PreferenceTrainer

    load = load_pairs if options.method == "dpo" else load_labels
    spec = model or settings.model
    try:
        train_examples = load(source)
        try:
            validation = load(source, VALIDATION_SPLIT)
        except DataError:
            validation = []
        if not train_examples:
            raise ValueError(f"{data} has nothing to train {options.method} on")
        loaded = load_configured(spec, settings, dtype=torch.float32)
    except ValueError as error:
        raise UserError(str(error)) from None
    trainer = PreferenceTrainer(
        loaded.text_to_image,
        train_examples,
        validation,
        work or default_work(out),
        options,
    )
    trainer.run(progress=progress, on_step=on_step)
    folder = trainer.save_adapter(out, {"base_model": spec, "data": data_name or data})
    validated = [record for record in trainer.history if "implicit_accuracy" in record]
    return FineTuned(
        adapter=folder,
        method=options.method,
        base_model=spec,
        examples=len(train_examples),
        validation_examples=len(validation),
        steps=trainer.step,
        seconds=trainer.seconds,
        implicit_accuracy=validated[-1]["implicit_accuracy"] if validated else None,
    )
