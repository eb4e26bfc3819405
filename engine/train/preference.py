"""Fine-tuning a LoRA adapter of the UNet on preference data (Diffusion-DPO or Diffusion-KTO).

The base model is loaded through the project's loader and frozen; the adapter is the only
thing trained, and the reference model is the same UNet with the adapter switched off. The
pictures are encoded once (posterior means) and the captions once, since the VAE and the text
encoder never change. A pair's two pictures share their noise and timestep, as in the paper, so
their errors differ only by the pictures.

Everything random comes from the seed; a checkpoint in the work folder holds the adapter, the
optimizer, the random state and the step, so a resumed run goes on with the same losses.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import DDPMScheduler, StableDiffusionPipeline
from PIL import Image
from pydantic import ValidationError

from engine.construction import MODULE_CONSTRUCTION
from engine.train.conditioning import added_conditions, caption_conditioning, picture_latents
from engine.train.data import LabelExample, PairExample
from engine.train.losses import PreferenceLoss, dpo_loss, kto_loss
from engine.train.objective import denoising_target, per_sample_errors
from engine.train.options import TrainingOptions

CHECKPOINT = "checkpoint.pt"
# What every adapter reaches: the attention projections.
ATTENTION_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
# The ResNet blocks' two convolutions, for an adapter that also reaches where the UNet lays a
# picture out (LoCon-style); diffusers' load_lora_weights reads such adapters as well.
CONVOLUTION_MODULES = ("conv1", "conv2")


Examples = Sequence[PairExample] | Sequence[LabelExample]


@dataclass(frozen=True)
class Encoded:
    """Examples as the UNet sees them: latents (pairs: chosen then rejected) and contexts."""

    latents: torch.Tensor  # N x C x h x w, or N x 2 x C x h x w for pairs
    contexts: torch.Tensor  # N x tokens x width
    desirable: torch.Tensor | None  # N booleans, for labels
    pooled: torch.Tensor | None = None  # N x width: SDXL's pooled caption embedding

    def __len__(self) -> int:
        return int(self.contexts.shape[0])


class PreferenceTrainer:
    """One fine-tuning run of a pipeline's UNet, in `work_dir`, resumed if it was cut off."""

    def __init__(
        self,
        pipeline: StableDiffusionPipeline,
        train: Examples,
        validation: Examples,
        work_dir: Path,
        options: TrainingOptions,
    ) -> None:
        from peft import LoraConfig

        if not train:
            raise ValueError("there is nothing to train on")
        self.options = options
        self.work_dir = work_dir
        self.pipeline = pipeline
        self.device = pipeline.device
        self.scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
        for module in (pipeline.unet, pipeline.vae, pipeline.text_encoder):
            module.requires_grad_(False)
            module.eval()
        self.unet = pipeline.unet
        # The adapter's layers are modules: made while the engine loads a model or an adapter
        # on its own thread, they would come out on the meta device (engine.construction).
        with MODULE_CONSTRUCTION, torch.random.fork_rng(devices=[]):
            torch.manual_seed(options.seed)
            self.unet.add_adapter(
                LoraConfig(
                    r=options.rank,
                    lora_alpha=options.rank,
                    init_lora_weights="gaussian",
                    target_modules=list(ATTENTION_MODULES)
                    + list(CONVOLUTION_MODULES if options.adapt_convolutions else ()),
                )
            )
        self.parameters = [p for p in self.unet.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.parameters, lr=options.learning_rate)
        self.train_data = self._encode(train)
        self._balanced_sides = self._sides_to_balance()
        self.validation_data = self._encode(validation) if validation else None
        self.generator = torch.Generator().manual_seed(options.seed)
        self.step = 0
        self.seconds = 0.0
        self.history: list[dict[str, float]] = []
        # The running mean of the adapter's weights over the averaged steps so far.
        self.average: list[torch.Tensor] = []
        if (work_dir / CHECKPOINT).is_file():
            self._load_checkpoint()

    # -- data -------------------------------------------------------------------------------

    @torch.no_grad()
    def _encode(self, examples: Examples) -> Encoded:
        def latents(pictures: list[Image.Image]) -> torch.Tensor:
            return picture_latents(self.pipeline, pictures, self.device)

        contexts, pooled = caption_conditioning(
            self.pipeline, [example.caption for example in examples], self.device
        )
        if isinstance(examples[0], PairExample):
            pairs = [e for e in examples if isinstance(e, PairExample)]
            chosen = latents([pair.chosen for pair in pairs])
            rejected = latents([pair.rejected for pair in pairs])
            return Encoded(torch.stack([chosen, rejected], dim=1), contexts, None, pooled)
        labelled = [e for e in examples if isinstance(e, LabelExample)]
        desirable = torch.tensor([example.desirable for example in labelled])
        return Encoded(
            latents([example.image for example in labelled]), contexts, desirable, pooled
        )

    # -- the objective ----------------------------------------------------------------------

    def _errors(
        self,
        latents: torch.Tensor,
        contexts: torch.Tensor,
        pooled: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The adapted and the reference model's per-sample errors on the same noisy latents.

        For pairs (B x 2 x ...), both pictures of a pair get the same noise and timestep.
        """
        paired = latents.dim() == 5
        count = latents.shape[0]
        single = latents.shape[2:] if paired else latents.shape[1:]
        noise = torch.randn((count, *single), generator=generator)
        steps = self.scheduler.config.num_train_timesteps
        lowest = int(steps * self.options.timestep_floor)
        timesteps = torch.randint(lowest, steps, (count,), generator=generator)
        if paired:
            latents = torch.cat([latents[:, 0], latents[:, 1]])
            noise, timesteps, contexts = (
                noise.repeat(2, 1, 1, 1),
                timesteps.repeat(2),
                contexts.repeat(2, 1, 1),
            )
            pooled = pooled.repeat(2, 1) if pooled is not None else None
        latents, noise = latents.to(self.device), noise.to(self.device)
        timesteps, contexts = timesteps.to(self.device), contexts.to(self.device)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        target = denoising_target(self.scheduler, latents, noise, timesteps)
        added = added_conditions(self.pipeline, pooled, len(latents), self.device)

        def predict() -> torch.Tensor:
            output: torch.Tensor = self.unet(
                noisy, timesteps, contexts, added_cond_kwargs=added
            ).sample
            return output

        with self._autocast():
            model = per_sample_errors(predict(), target)
            self.unet.disable_adapters()
            try:
                with torch.no_grad():
                    reference = per_sample_errors(predict(), target)
            finally:
                self.unet.enable_adapters()
        return model, reference

    def _autocast(self) -> Any:
        kind = self.options.mixed_precision
        if kind == "no" or self.device.type != "cuda":
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast("cuda", dtype=torch.float16 if kind == "fp16" else torch.bfloat16)

    def _loss(
        self, data: Encoded, indices: torch.Tensor, generator: torch.Generator
    ) -> PreferenceLoss:
        pooled = data.pooled[indices] if data.pooled is not None else None
        model, reference = self._errors(
            data.latents[indices], data.contexts[indices], pooled, generator
        )
        options = self.options
        if data.desirable is None:
            half = len(indices)
            return dpo_loss(
                model[:half], model[half:], reference[:half], reference[half:], options.beta
            )
        return kto_loss(
            model,
            reference,
            data.desirable[indices].to(self.device),
            options.beta,
            options.desirable_weight,
            options.undesirable_weight,
        )

    # -- running ----------------------------------------------------------------------------

    def train_step(self) -> float:
        """One optimizer step (over `accumulate` batches); returns its mean loss."""
        self.unet.train()
        total = 0.0
        for _ in range(self.options.accumulate):
            indices = self.next_batch()
            loss = self._loss(self.train_data, indices, self.generator).loss
            torch.autograd.backward(loss / self.options.accumulate)
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self._average_weights()
        return total / self.options.accumulate

    @torch.no_grad()
    def _average_weights(self) -> None:
        """Fold this step's weights into the running mean; at the last step, the adapter takes
        the mean (what the final validation, the checkpoint and the saved adapter then hold)."""
        averaged = self.step - self.options.first_averaged_step + 1
        if averaged < 1:
            return
        if not self.average:
            self.average = [p.detach().clone() for p in self.parameters]
        else:
            for mean, weight in zip(self.average, self.parameters, strict=True):
                mean.add_(weight.detach() - mean, alpha=1 / averaged)
        if self.step == self.options.steps:
            for mean, weight in zip(self.average, self.parameters, strict=True):
                weight.copy_(mean)

    def _sides_to_balance(self) -> list[torch.Tensor]:
        """The rows of each label, when batches are to hold as many of one as of the other;
        none when they are drawn plainly, or when labels of one kind only leave nothing to
        balance."""
        desirable = self.train_data.desirable
        if not self.options.balanced_batches or desirable is None:
            return []
        sides = [desirable.nonzero()[:, 0], (~desirable).nonzero()[:, 0]]
        return sides if all(len(rows) for rows in sides) else []

    def next_batch(self) -> torch.Tensor:
        """The rows of the training data the next batch holds (drawing them moves the run's
        random state on: the training step calls this)."""
        size, sides = self.options.batch_size, self._balanced_sides
        if not sides:
            return torch.randint(0, len(self.train_data), (size,), generator=self.generator)
        halves = zip(sides, (size // 2, size - size // 2), strict=True)
        return torch.cat(
            [
                rows[torch.randint(0, len(rows), (n,), generator=self.generator)]
                for rows, n in halves
            ]
        )

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss and implicit reward accuracy on the validation split, with fixed noise."""
        data = self.validation_data
        if data is None:
            return {}
        self.unet.eval()
        generator = torch.Generator().manual_seed(self.options.seed + 1)
        losses, accuracies, sizes = [], [], []
        for start in range(0, len(data), self.options.batch_size):
            indices = torch.arange(start, min(start + self.options.batch_size, len(data)))
            result = self._loss(data, indices, generator)
            losses.append(float(result.loss))
            accuracies.append(result.implicit_accuracy)
            sizes.append(len(indices))
        total = sum(sizes)
        return {
            "validation_loss": sum(x * n for x, n in zip(losses, sizes, strict=True)) / total,
            "implicit_accuracy": sum(a * n for a, n in zip(accuracies, sizes, strict=True)) / total,
        }

    def run(
        self,
        stop_after: int | None = None,
        progress: bool = True,
        on_step: Callable[[int, int], None] | None = None,
    ) -> list[float]:
        """Train to the last step (or `stop_after` more), validating and checkpointing as set;
        `progress` draws a bar on the terminal, `on_step` is told each step done and the steps
        in all."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.work_dir.mkdir(parents=True, exist_ok=True)
        budget = self.options.steps - self.step if stop_after is None else stop_after
        losses: list[float] = []
        clock = time.perf_counter()
        columns = (
            TextColumn(self.options.method),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]} acc {task.fields[accuracy]}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task(
                "train", total=self.options.steps, completed=self.step, loss="-", accuracy="-"
            )
            while self.step < self.options.steps and len(losses) < budget:
                losses.append(self.train_step())
                self.seconds, clock = (
                    self.seconds + time.perf_counter() - clock,
                    time.perf_counter(),
                )
                record = {"step": float(self.step), "loss": losses[-1]}
                if self.step == self.options.steps:
                    with self.as_written():
                        record |= self.validate()
                elif self.step % self.options.validate_every == 0:
                    record |= self.validate()
                self.history.append(record)
                accuracy = record.get("implicit_accuracy")
                bar.update(
                    task,
                    advance=1,
                    loss=f"{losses[-1]:.4f}",
                    accuracy="-" if accuracy is None else f"{accuracy:.0%}",
                )
                if self.step % self.options.checkpoint_every == 0:
                    self.save_checkpoint()
                if on_step is not None:
                    on_step(self.step, self.options.steps)
        self.save_checkpoint()
        return losses

    # -- checkpoints and output ---------------------------------------------------------------

    @contextlib.contextmanager
    def as_written(self) -> Iterator[None]:
        """The adapter as it will be written (extrapolated as asked) for as long as this lasts;
        the trained one again afterwards, so checkpoints hold what training reached."""
        factor = self.options.extrapolate
        if factor == 1:
            yield
            return
        # LoRA's change to a weight is B @ A: scaling B scales the change.
        ups = [p for name, p in self.unet.named_parameters() if "lora_B" in name]
        trained = [p.detach().clone() for p in ups]
        with torch.no_grad():
            for p in ups:
                p.mul_(factor)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, kept in zip(ups, trained, strict=True):
                    p.copy_(kept)

    def _adapter_state(self) -> dict[str, torch.Tensor]:
        from peft.utils import get_peft_model_state_dict

        return {
            k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(self.unet).items()
        }

    def save_checkpoint(self) -> None:
        payload = {
            "options": self.options.model_dump(),
            "examples": len(self.train_data),
            "step": self.step,
            "seconds": self.seconds,
            "history": self.history,
            "adapter": self._adapter_state(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "average": self.average,
        }
        temporary = self.work_dir / (CHECKPOINT + ".tmp")
        torch.save(payload, temporary)
        temporary.replace(self.work_dir / CHECKPOINT)

    def _load_checkpoint(self) -> None:
        from peft.utils import set_peft_model_state_dict

        payload = torch.load(self.work_dir / CHECKPOINT, weights_only=True)
        # A checkpoint written before an option existed ran as its default does now (an option
        # is added with the default that keeps what runs did before it).
        try:
            saved = TrainingOptions.model_validate(payload["options"]).model_dump()
        except ValidationError:  # an option this version does not know
            saved = payload["options"]
        if saved != self.options.model_dump():
            raise ValueError(f"{self.work_dir} holds a run with other options")
        if payload["examples"] != len(self.train_data):
            raise ValueError(f"{self.work_dir} holds a run on other data")
        set_peft_model_state_dict(self.unet, payload["adapter"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.generator.set_state(payload["generator"])
        self.step, self.seconds = payload["step"], float(payload["seconds"])
        self.history = list(payload["history"])
        self.average = list(payload.get("average", []))

    def save_adapter(self, folder: Path, about: dict[str, Any]) -> Path:
        """Write the adapter as diffusers' `load_lora_weights` reads it, with a training card."""
        from diffusers.utils import convert_state_dict_to_diffusers

        folder.mkdir(parents=True, exist_ok=True)
        # The pipeline's own class writes the layout its load_lora_weights reads (SD or SDXL).
        with self.as_written():
            written = self._adapter_state()
        type(self.pipeline).save_lora_weights(
            folder, unet_lora_layers=convert_state_dict_to_diffusers(written)
        )
        facts = {
            **about,
            "options": self.options.model_dump(),
            "examples": len(self.train_data),
            "validation_examples": 0 if self.validation_data is None else len(self.validation_data),
            "steps": self.step,
            "seconds": round(self.seconds, 1),
            "history": self.history,
        }
        (folder / "training.json").write_text(json.dumps(facts, indent=2) + "\n")
        (folder / "README.md").write_text(_training_card(facts))
        return folder


def _kto_batches(options: dict[str, Any]) -> str:
    """How KTO weighed its desirable and undesirable pictures, for the card."""
    if options["method"] != "kto":
        return ""
    drawn = "half desirable" if options["balanced_batches"] else "drawn at random"
    weights = f"weights {options['desirable_weight']:g} / {options['undesirable_weight']:g}"
    return f"; batches {drawn}, {weights}"


def _optional_choices(options: dict[str, Any]) -> str:
    """The optional training choices a run made (its weights averaged, its timesteps drawn from
    the noisier part of the schedule, its convolutions adapted), for the card: nothing for a
    run that made none, or that ran before they existed."""
    share, floor = options.get("average_last", 0.0), options.get("timestep_floor", 0.0)
    averaged = f"; weights averaged over the last {share:.0%} of the steps" if share else ""
    floored = f"; timesteps from {floor:.0%} of the schedule up" if floor else ""
    convolutions = (
        "; the ResNet convolutions adapted too" if options.get("adapt_convolutions") else ""
    )
    factor = options.get("extrapolate", 1.0)
    extrapolated = (
        f"; written extrapolated, {factor:g} times the trained change (ExPO)" if factor != 1 else ""
    )
    return averaged + floored + convolutions + extrapolated


def _training_card(facts: dict[str, Any]) -> str:
    options = facts["options"]
    last = next((r for r in reversed(facts["history"]) if "implicit_accuracy" in r), None)
    first = next((r for r in facts["history"] if "implicit_accuracy" in r), None)
    method = {"dpo": "Diffusion-DPO", "kto": "Diffusion-KTO"}[options["method"]]
    lines = [
        "---",
        "library_name: diffusers",
        "tags:\n- lora\n- pickloop\n- " + options["method"],
        f"base_model: {facts.get('base_model', 'unknown')}",
        "---",
        "",
        f"# A {method} LoRA adapter made by pickloop",
        "",
        f"- **Base model**: `{facts.get('base_model', 'unknown')}`",
        f"- **Data**: `{facts.get('data', 'unknown')}`: {facts['examples']:,} training "
        f"{'pairs' if options['method'] == 'dpo' else 'labelled pictures'}, "
        f"{facts['validation_examples']:,} for validation",
        f"- **Options**: rank {options['rank']}, {facts['steps']:,} steps of "
        f"{options['batch_size']} x {options['accumulate']}, learning rate "
        f"{options['learning_rate']:g}, beta {options['beta']:g}, seed {options['seed']}, "
        f"mixed precision {options['mixed_precision']}{_kto_batches(options)}"
        f"{_optional_choices(options)}",
        f"- **Time**: {facts['seconds']:.0f} s",
    ]
    if last is not None and first is not None:
        lines.append(
            f"- **Validation**: implicit reward accuracy {first['implicit_accuracy']:.1%} at step "
            f"{first['step']:.0f}, {last['implicit_accuracy']:.1%} at step {last['step']:.0f}"
            f"{' (as written)' if options.get('extrapolate', 1.0) != 1 else ''}; "
            f"loss {last['validation_loss']:.4f}"
        )
    lines += [
        "",
        "```python",
        'pipe.load_lora_weights("path/to/this/folder")',
        "```",
        "",
    ]
    return "\n".join(lines)
