"""Preference fine-tuning speed: seconds per optimizer step of Diffusion-DPO and Diffusion-KTO.

Prints, for a model (default: the shipped embedded model), the time of one training step at a
batch size (DPO: pairs, so twice the pictures through the UNet and twice again through the
frozen reference; KTO: single pictures), warm, interleaved over rounds because these machines
are shared and noisy; and the ratio of the two. A plain denoising forward and backward pass of
the same pictures is timed too, so the ratios show what the reference model and the pairing
cost over ordinary fine-tuning.

    python bench/bench_preference_training.py [--model embedded] [--batch 8] [--rounds 5] [--json]

On a GPU, pass --device cuda and an SD 1.x or 2.x folder (or a hub id already on disk).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from bot.config import Settings
from bot.core.models.local import load_configured
from engine.chatter import silence_library_progress
from engine.train.data import LabelExample, PairExample
from engine.train.options import TrainingOptions
from engine.train.preference import PreferenceTrainer

COLOURS = ((220, 30, 30), (30, 30, 220), (30, 200, 30), (230, 200, 40))


def pictures(count: int, size: int) -> list[Image.Image]:
    return [Image.new("RGB", (size, size), COLOURS[i % len(COLOURS)]) for i in range(count)]


def trainer(method: str, model: str, settings: Settings, batch: int, work: Path) -> Any:
    pipeline = load_configured(model, settings, dtype=torch.float32).text_to_image
    size = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    shown = pictures(2 * batch, size)
    examples: list[PairExample] | list[LabelExample]
    if method == "dpo":
        examples = [
            PairExample(f"a picture number {i}", shown[2 * i], shown[2 * i + 1])
            for i in range(batch)
        ]
    else:
        examples = [
            LabelExample(f"a picture number {i}", shown[i], i % 2 == 0) for i in range(2 * batch)
        ]
    options = TrainingOptions(
        method=method,  # type: ignore[arg-type]
        steps=10**6,
        batch_size=batch,
        validate_every=10**6,
        checkpoint_every=10**6,
    )
    return PreferenceTrainer(pipeline, examples, [], work / method, options)


def plain_step(run: Any) -> None:
    """An ordinary denoising step on the same batch: no reference, no pairs."""
    data = run.train_data
    latents = data.latents[:, 0] if data.latents.dim() == 5 else data.latents
    count = min(run.options.batch_size, len(latents))
    noise = torch.randn(latents[:count].shape)
    timesteps = torch.randint(0, 1000, (count,))
    noisy = run.scheduler.add_noise(latents[:count], noise, timesteps)
    prediction = run.unet(noisy, timesteps, data.contexts[:count]).sample
    torch.nn.functional.mse_loss(prediction, noise).backward()
    run.optimizer.zero_grad(set_to_none=True)


def main(model: str, batch: int, rounds: int, device: str) -> dict[str, Any]:
    settings = Settings(_env_file=None, device=device)  # type: ignore[call-arg]
    times: dict[str, list[float]] = {"dpo": [], "kto": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {m: trainer(m, model, settings, batch, Path(tmp)) for m in ("dpo", "kto")}
        steps = {
            "dpo": runs["dpo"].train_step,
            "kto": runs["kto"].train_step,
            "plain": lambda: plain_step(runs["kto"]),
        }
        for step in steps.values():  # warm-up
            step()
        for _ in range(rounds):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                if device == "cuda":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - start)
    dpo, kto, plain = (statistics.median(times[name]) for name in ("dpo", "kto", "plain"))
    return {
        "model": model,
        "device": device,
        "batch": batch,
        "rounds": rounds,
        "torch_threads": torch.get_num_threads(),
        "dpo_step_s": round(dpo, 4),
        "kto_step_s": round(kto, 4),
        "plain_step_s": round(plain, 4),
        "dpo_over_kto": round(dpo / kto, 2),
        "kto_over_plain": round(kto / plain, 2),
    }


if __name__ == "__main__":
    silence_library_progress()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = main(args.model, args.batch, args.rounds, args.device)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
