"""The shipped embedded model's speed: a 2x2 grid, and `pickloop imagine` from process start.

Prints, on this machine:
- a 2x2 grid at the default settings (20 steps, guidance 7.5, 64x64) through the engine, warm,
  for the shipped model and for the random tiny model (the ratio says what the trained model's
  size costs); aim <= 2 s;
- the wall time of `pickloop imagine PROMPT` as a new process in a fresh data folder, from
  start to the grid on disk, and of a process that only imports torch and diffusers (so the
  ratio shows how much of it is pickloop's own work); aim <= 10 s.

Rounds are interleaved, because these machines are shared and noisy.

    python bench/bench_embedded_model.py [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bot.config import Settings
from engine import EMBEDDED_MODEL, RANDOM_MODEL, GenerationRequest, LocalEngine
from engine.chatter import silence_library_progress

PROMPT = "a large red star in the centre on a blue background"
PICKLOOP = str(Path(sys.executable).with_name("pickloop"))


def grid_request(model: str, settings: Settings, round_index: int) -> GenerationRequest:
    return GenerationRequest(
        model=model,
        prompt=PROMPT,
        negative_prompt="",
        width=64,
        height=64,
        steps=settings.default_steps,
        guidance=settings.default_guidance,
        seeds=tuple(round_index * 4 + i for i in range(4)),
    )


async def grid_times(rounds: int, cache: Path) -> dict[str, list[float]]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = LocalEngine(cache, device="cpu")
    times: dict[str, list[float]] = {EMBEDDED_MODEL: [], RANDOM_MODEL: []}
    try:
        for model in times:  # warm-up: loading and first calls
            await engine.generate(grid_request(model, settings, 0))
        for round_index in range(1, rounds + 1):
            for model, kept in times.items():
                start = time.perf_counter()
                await engine.generate(grid_request(model, settings, round_index))
                kept.append(time.perf_counter() - start)
    finally:
        await engine.close()
    return times


def process_seconds(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def start_to_grid(rounds: int, root: Path) -> tuple[list[float], list[float]]:
    imagine, imports = [], []
    for round_index in range(rounds):
        folder = root / f"round-{round_index}"
        folder.mkdir()
        imagine.append(process_seconds([PICKLOOP, "imagine", PROMPT], folder))
        if not any((folder / "pickloop-data" / "images").rglob("*.png")):
            raise RuntimeError("pickloop imagine left no grid")
        imports.append(
            process_seconds([sys.executable, "-c", "import torch, diffusers.pipelines"], folder)
        )
    return imagine, imports


def main(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        times = asyncio.run(grid_times(rounds, root / "cache"))
        imagine, imports = start_to_grid(rounds, root)
    shipped = statistics.median(times[EMBEDDED_MODEL])
    random_tiny = statistics.median(times[RANDOM_MODEL])
    imagine_s, imports_s = statistics.median(imagine), statistics.median(imports)
    return {
        "rounds": rounds,
        "torch_threads": torch.get_num_threads(),
        "grid_2x2_20_steps_s": round(shipped, 3),
        "grid_2x2_random_tiny_s": round(random_tiny, 3),
        "shipped_over_random_tiny": round(shipped / random_tiny, 2),
        "imagine_start_to_grid_s": round(imagine_s, 2),
        "import_torch_diffusers_s": round(imports_s, 2),
        "imagine_over_imports": round(imagine_s / imports_s, 2),
    }


if __name__ == "__main__":
    silence_library_progress()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = main(args.rounds)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
