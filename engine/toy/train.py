"""Training the toy model from scratch, on a CPU, resumably.

Two stages: the VAE learns to reconstruct the pictures (L1 plus a small KL term); then, on the
VAE's latents, the UNet and the text encoder learn together to denoise them (the target the
model's scheduler names: v on the toy schedule), with one caption in ten left empty for
classifier-free guidance and an exponential moving average (EMA) of both. The EMA weights are
what gets saved, with a model card of the recipe.

All randomness (initial weights, batches, noise, timesteps, dropped captions) comes from the
seed, and a checkpoint holds everything a run depends on (weights, optimizers, EMA, random
state, step), so a resumed run continues with exactly the losses an uninterrupted one has.
The number of torch threads is the caller's to set.
"""

import dataclasses
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from PIL.Image import Image
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import CLIPTextModel, CLIPTokenizer

from engine.toy.card import write_card
from engine.toy.model import (
    ToyArchitecture,
    ToyComponents,
    check_pipeline_folder,
    save_pipeline,
    toy_components,
)
from engine.train.objective import denoising_target, per_sample_errors

CHECKPOINT = "checkpoint.pt"
LATENTS = "latents.pt"
VAE_STAGE = "vae"
DIFFUSION_STAGE = "diffusion"
DONE = "done"


@dataclass(frozen=True)
class TrainSettings:
    """How to train; the defaults are the plan for a full run on a 2-core CPU (about 0.45 s
    a VAE step at batch 32 and 0.8 s a diffusion step at batch 64 there: about 70 minutes)."""

    seed: int = 0
    architecture: ToyArchitecture = field(default_factory=ToyArchitecture)
    vae_steps: int = 2000
    vae_batch: int = 32
    vae_learning_rate: float = 1e-3
    kl_weight: float = 1e-6
    diffusion_steps: int = 4000
    diffusion_batch: int = 64
    diffusion_learning_rate: float = 5e-4
    warmup_steps: int = 100
    caption_dropout: float = 0.1
    partial_captions: float = 0.0
    """The share of the data's captions that leave attributes unsaid (recorded, for the card:
    the captions come with the data)."""
    # Min-SNR loss weighting (Hang et al. 2023); None weighs every timestep alike. Off by
    # default: with v-prediction it weighs the picture's error at the noisiest timesteps by
    # their SNR, near zero there, which are the timesteps where only the caption can tell what
    # to draw (a probe measured no use of the caption with it, a 30 % lower loss with the right
    # caption than a wrong one without it, after 100 steps each).
    snr_gamma: float | None = None
    ema_decay: float = 0.999
    checkpoint_every: int = 250

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ToyData:
    """Training pictures (uint8, N x 3 x R x R) and their captions."""

    images: torch.Tensor
    captions: tuple[str, ...]

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[Image, str]], resolution: int) -> "ToyData":
        pictures: list[np.ndarray[Any, Any]] = []
        captions: list[str] = []
        for picture, caption in pairs:
            rgb = picture.convert("RGB")
            if rgb.size != (resolution, resolution):
                raise ValueError(f"a training picture is {rgb.size}, not {resolution}px square")
            pictures.append(np.asarray(rgb, dtype=np.uint8))
            captions.append(caption)
        if not pictures:
            raise ValueError("there are no training pictures")
        images = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()
        return cls(images=images, captions=tuple(captions))

    def __len__(self) -> int:
        return len(self.captions)


def learning_rate(peak: float, step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak at the last step."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pictures as floats in [-1, 1], as the VAE takes them."""
    return images.float() / 127.5 - 1


def vae_loss(
    vae: AutoencoderKL, pixels: torch.Tensor, generator: torch.Generator, kl_weight: float
) -> torch.Tensor:
    """Reconstruction (L1) plus a weighted KL term, for pictures in [-1, 1]."""
    posterior = vae.encode(pixels).latent_dist
    latents = posterior.sample(generator=generator)
    reconstruction = vae.decode(latents).sample
    kl: torch.Tensor = posterior.kl().mean()
    return F.l1_loss(reconstruction, pixels) + kl_weight * kl


def diffusion_loss(
    unet: UNet2DConditionModel,
    text_encoder: CLIPTextModel,
    scheduler: DDPMScheduler,
    latents: torch.Tensor,
    token_ids: torch.Tensor,
    generator: torch.Generator,
    snr_gamma: float | None,
) -> torch.Tensor:
    """The denoising loss on scaled latents and their (already dropped out) tokens, with the
    target the scheduler's prediction type names (epsilon or v)."""
    noise = torch.randn(latents.shape, generator=generator)
    steps = scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, steps, (latents.shape[0],), generator=generator)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    context = text_encoder(token_ids)[0]
    prediction = unet(noisy, timesteps, context).sample
    errors = per_sample_errors(prediction, denoising_target(scheduler, latents, noise, timesteps))
    v_prediction = scheduler.config.prediction_type == "v_prediction"
    if snr_gamma is not None:
        alphas = scheduler.alphas_cumprod[timesteps]
        snr = alphas / (1 - alphas)
        # Min-SNR-gamma: the same weight on the picture's error for either target.
        errors = errors * torch.clamp(snr, max=snr_gamma) / (snr + 1 if v_prediction else snr)
    return errors.mean()


class ExponentialAverage:
    """An EMA of some modules' parameters, with the usual warm-up of the decay."""

    def __init__(self, modules: Sequence[torch.nn.Module], decay: float) -> None:
        self.decay = decay
        self.shadow = [
            parameter.detach().clone() for module in modules for parameter in module.parameters()
        ]

    @torch.no_grad()
    def update(self, modules: Sequence[torch.nn.Module], step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        parameters = [parameter for module in modules for parameter in module.parameters()]
        for average, parameter in zip(self.shadow, parameters, strict=True):
            average.lerp_(parameter.detach(), 1 - decay)

    @torch.no_grad()
    def copy_to(self, modules: Sequence[torch.nn.Module]) -> None:
        parameters = [parameter for module in modules for parameter in module.parameters()]
        for average, parameter in zip(self.shadow, parameters, strict=True):
            parameter.copy_(average)


def _tokens(tokenizer: CLIPTokenizer, captions: Sequence[str], max_length: int) -> torch.Tensor:
    encoded = tokenizer(list(captions), padding="max_length", max_length=max_length)
    too_long = [caption for caption, ids in zip(captions, encoded.input_ids, strict=True)
                if len(ids) > max_length]  # fmt: skip
    if too_long:
        raise ValueError(f"a caption is longer than {max_length} tokens: {too_long[0]!r}")
    return torch.tensor(encoded.input_ids, dtype=torch.long)


def _save_atomically(payload: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save(payload, temporary)
    temporary.replace(path)


class ToyTrainer:
    """One training run in `work_dir`, taken up again from its checkpoint if there is one."""

    def __init__(
        self,
        data: ToyData,
        vocabulary: Sequence[str],
        work_dir: Path,
        settings: TrainSettings | None = None,
        start_from: Path | None = None,
    ) -> None:
        self.settings = settings or TrainSettings()
        self.vocabulary = list(vocabulary)
        self.data = data
        self.work_dir = work_dir
        self.components: ToyComponents = toy_components(
            self.vocabulary, self.settings.seed, self.settings.architecture
        )
        # A model to go on from: its weights replace the fresh ones, and when its VAE is not
        # trained further, its latents keep the scale its UNet learned on. A run taken up again
        # has them in its checkpoint already.
        self.kept_scaling: float | None = None
        if start_from is not None and not (work_dir / CHECKPOINT).is_file():
            self._start_from(start_from)
        self.scheduler = self.components.training_scheduler()
        max_length = self.settings.architecture.max_length
        self.token_ids = _tokens(self.components.tokenizer, data.captions, max_length)
        self.empty_ids = _tokens(self.components.tokenizer, [""], max_length)[0]
        self.generator = torch.Generator().manual_seed(self.settings.seed)
        self.stage = VAE_STAGE
        self.step = 0
        self.latents: torch.Tensor | None = None
        self.vae_optimizer = torch.optim.AdamW(
            self.components.vae.parameters(), lr=self.settings.vae_learning_rate
        )
        self.diffusion_optimizer = torch.optim.AdamW(
            self._diffusion_parameters(), lr=self.settings.diffusion_learning_rate
        )
        self.ema = ExponentialAverage(self._diffusion_modules(), self.settings.ema_decay)
        # The losses of the steps this object ran, in order.
        self.losses: list[float] = []
        # Seconds spent training, over every run that led to this checkpoint.
        self.seconds = 0.0
        if (work_dir / CHECKPOINT).is_file():
            self._load_checkpoint()

    def _start_from(self, folder: Path) -> None:
        components = self.components
        try:
            tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
            parts = {
                "vae": AutoencoderKL.from_pretrained(folder / "vae"),
                "unet": UNet2DConditionModel.from_pretrained(folder / "unet"),
                "text_encoder": CLIPTextModel.from_pretrained(folder / "text_encoder"),
            }
        except OSError as error:
            raise ValueError(f"{folder} is not a toy model folder: {error}") from None
        if tokenizer.get_vocab() != components.tokenizer.get_vocab():
            raise ValueError(f"{folder} was trained on other caption words")
        for name, loaded in parts.items():
            try:
                getattr(components, name).load_state_dict(loaded.state_dict())
            except RuntimeError:
                raise ValueError(f"{folder}'s {name} has another architecture") from None
        if self.settings.vae_steps == 0:
            self.kept_scaling = float(parts["vae"].config.scaling_factor)

    def _diffusion_modules(self) -> list[torch.nn.Module]:
        return [self.components.unet, self.components.text_encoder]

    def _diffusion_parameters(self) -> list[torch.nn.Parameter]:
        return [p for module in self._diffusion_modules() for p in module.parameters()]

    @property
    def total_steps(self) -> int:
        return self.settings.vae_steps + self.settings.diffusion_steps

    @property
    def steps_done(self) -> int:
        if self.stage == VAE_STAGE:
            return self.step
        if self.stage == DIFFUSION_STAGE:
            return self.settings.vae_steps + self.step
        return self.total_steps

    def _batch(self, size: int) -> torch.Tensor:
        return torch.randint(0, len(self.data), (size,), generator=self.generator)

    def vae_step(self) -> float:
        """One optimisation step of the VAE; returns its loss."""
        settings = self.settings
        vae = self.components.vae
        vae.train()
        pixels = to_unit_range(self.data.images[self._batch(settings.vae_batch)])
        rate = learning_rate(
            settings.vae_learning_rate, self.step, settings.vae_steps, settings.warmup_steps
        )
        for group in self.vae_optimizer.param_groups:
            group["lr"] = rate
        loss = vae_loss(vae, pixels, self.generator, settings.kl_weight)
        self.vae_optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        self.vae_optimizer.step()
        self.step += 1
        return float(loss.detach())

    def diffusion_step(self) -> float:
        """One optimisation step of the UNet and text encoder; returns its loss."""
        if self.latents is None:
            raise RuntimeError("the latents are made when the VAE stage ends")
        settings = self.settings
        for module in self._diffusion_modules():
            module.train()
        indices = self._batch(settings.diffusion_batch)
        token_ids = self.token_ids[indices].clone()
        dropped = torch.rand(len(indices), generator=self.generator) < settings.caption_dropout
        token_ids[dropped] = self.empty_ids
        latents = self.latents[indices] * self.components.vae.config.scaling_factor
        rate = learning_rate(
            settings.diffusion_learning_rate,
            self.step,
            settings.diffusion_steps,
            settings.warmup_steps,
        )
        for group in self.diffusion_optimizer.param_groups:
            group["lr"] = rate
        loss = diffusion_loss(
            self.components.unet,
            self.components.text_encoder,
            self.scheduler,
            latents,
            token_ids,
            self.generator,
            settings.snr_gamma,
        )
        self.diffusion_optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(self._diffusion_parameters(), 1.0)
        self.diffusion_optimizer.step()
        self.ema.update(self._diffusion_modules(), self.step)
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def _make_latents(self, batch: int = 256) -> None:
        """Encode every picture (posterior means) and scale latents to unit variance."""
        vae = self.components.vae
        vae.eval()
        chunks = [
            vae.encode(to_unit_range(self.data.images[start : start + batch])).latent_dist.mean
            for start in range(0, len(self.data), batch)
        ]
        latents = torch.cat(chunks)
        scaling_factor = self.kept_scaling or float(1 / latents.std())
        _save_atomically(
            {"latents": latents, "scaling_factor": scaling_factor}, self.work_dir / LATENTS
        )
        self._use_latents(latents, scaling_factor)

    def _use_latents(self, latents: torch.Tensor, scaling_factor: float) -> None:
        self.latents = latents
        self.components.vae.register_to_config(scaling_factor=scaling_factor)

    def run(self, stop_after: int | None = None, progress: bool = True) -> list[float]:
        """Train to the end (or for at most `stop_after` more steps), checkpointing every
        `checkpoint_every` steps and when it stops; returns the losses of the steps it ran."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        budget = self.total_steps if stop_after is None else stop_after
        ran: list[float] = []
        clock = time.perf_counter()
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task(
                self.stage, total=self.total_steps, completed=self.steps_done, loss="-"
            )
            while True:
                if self.stage == VAE_STAGE and self.step >= self.settings.vae_steps:
                    bar.update(task, description="latents")
                    self._make_latents()
                    self.stage, self.step = DIFFUSION_STAGE, 0
                    self.save_checkpoint()
                if self.stage == DIFFUSION_STAGE and self.step >= self.settings.diffusion_steps:
                    self.stage, self.step = DONE, 0
                if self.stage == DONE or len(ran) >= budget:
                    break
                step = self.vae_step if self.stage == VAE_STAGE else self.diffusion_step
                loss = step()
                ran.append(loss)
                # Counted as it goes, so the checkpoint of a run cut off holds its time too.
                self.seconds, clock = (
                    self.seconds + time.perf_counter() - clock,
                    time.perf_counter(),
                )
                bar.update(task, advance=1, description=self.stage, loss=f"{loss:.4f}")
                if self.steps_done % self.settings.checkpoint_every == 0:
                    self.save_checkpoint()
        self.save_checkpoint()
        self.losses.extend(ran)
        return ran

    def save_checkpoint(self) -> None:
        """Write everything the run depends on into the work folder's checkpoint."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        components = self.components
        payload = {
            "settings": self.settings.as_dict(),
            "vocabulary": self.vocabulary,
            "images": len(self.data),
            "stage": self.stage,
            "step": self.step,
            "generator": self.generator.get_state(),
            "vae": components.vae.state_dict(),
            "unet": components.unet.state_dict(),
            "text_encoder": components.text_encoder.state_dict(),
            "vae_optimizer": self.vae_optimizer.state_dict(),
            "diffusion_optimizer": self.diffusion_optimizer.state_dict(),
            "ema": self.ema.shadow,
            "seconds": self.seconds,
        }
        _save_atomically(payload, self.work_dir / CHECKPOINT)

    def _load_checkpoint(self) -> None:
        payload = torch.load(self.work_dir / CHECKPOINT, weights_only=True)
        if payload["settings"] != self.settings.as_dict():
            raise ValueError(f"{self.work_dir} holds a run with other settings")
        if payload["vocabulary"] != self.vocabulary or payload["images"] != len(self.data):
            raise ValueError(f"{self.work_dir} holds a run on other data")
        components = self.components
        components.vae.load_state_dict(payload["vae"])
        components.unet.load_state_dict(payload["unet"])
        components.text_encoder.load_state_dict(payload["text_encoder"])
        self.vae_optimizer.load_state_dict(payload["vae_optimizer"])
        self.diffusion_optimizer.load_state_dict(payload["diffusion_optimizer"])
        self.ema.shadow = payload["ema"]
        self.generator.set_state(payload["generator"])
        self.stage, self.step = payload["stage"], payload["step"]
        self.seconds = float(payload.get("seconds", 0.0))
        if self.stage != VAE_STAGE:
            saved = torch.load(self.work_dir / LATENTS, weights_only=True)
            self._use_latents(saved["latents"], saved["scaling_factor"])

    def recipe(self) -> dict[str, Any]:
        """What the model card says about how the model was made."""
        return {
            "settings": self.settings.as_dict(),
            "pictures": len(self.data),
            "parameters": self.components.parameter_counts(),
            "seconds": round(self.seconds, 1),
            "diffusion_steps_done": (
                self.settings.diffusion_steps if self.stage == DONE else self.step
            ),
        }

    def export(
        self, folder: Path, check: bool = True, about: Mapping[str, object] | None = None
    ) -> Path:
        """Save the trained model (the EMA weights) as a Stable Diffusion pipeline folder, with
        a model card of its recipe (plus `about`: the command, the machine, the data mix).

        The training weights are left as they were, so training can go on afterwards.
        """
        if self.latents is None:
            raise RuntimeError("the model cannot be saved before the VAE stage has ended")
        modules = self._diffusion_modules()
        live = [{k: v.clone() for k, v in module.state_dict().items()} for module in modules]
        self.ema.copy_to(modules)
        try:
            save_pipeline(self.components, folder)
        finally:
            for module, state in zip(modules, live, strict=True):
                module.load_state_dict(state)
        write_card(folder, recipe={**self.recipe(), **(about or {})})
        if check:
            check_pipeline_folder(folder)
        return folder


def train_toy_model(
    pairs: Iterable[tuple[Image, str]],
    vocabulary: Sequence[str],
    work_dir: Path,
    output: Path,
    settings: TrainSettings | None = None,
    progress: bool = True,
    about: Mapping[str, object] | None = None,
    train: bool = True,
    start_from: Path | None = None,
) -> Path:
    """Train (or go on training) in `work_dir` and save the model into `output`; with `train`
    False, save the model as the checkpoint has it, without training further."""
    settings = settings or TrainSettings()
    data = ToyData.from_pairs(pairs, settings.architecture.resolution)
    trainer = ToyTrainer(data, vocabulary, work_dir, settings, start_from)
    if train:
        trainer.run(progress=progress)
    return trainer.export(output, about=about)
