"""Foundation benchmark: batching, job-service overhead and event throughput.

Prints, for the embedded model on this machine:
- one batched 4-image pipeline call vs four single-image calls (ratio);
- the job service end to end (queue, run, store files, rows) vs the bare diffusers pipeline call
  for the same grid (overhead ratio; aim <= 1.10);
- human events recorded per second into SQLite through the job service.

Ratios are measured within one run, interleaved, because these machines are shared and noisy.

    python bench/bench_foundation.py [--rounds 9] [--events 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoPipelineForText2Image

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import open_app
from engine import LocalEngine
from engine.chatter import silence_library_progress
from engine.embedded import EMBEDDED_MODEL, model_source

PROMPT = "a red circle on a blue background"


def bare_pipeline_call(pipe: Any, seeds: list[int], steps: int, size: int) -> None:
    pipe(
        prompt=PROMPT,
        negative_prompt="",
        num_images_per_prompt=len(seeds),
        generator=[torch.Generator("cpu").manual_seed(s) for s in seeds],
        num_inference_steps=steps,
        guidance_scale=7.5,
        width=size,
        height=size,
    )


def timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


async def main(rounds: int, event_count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(_env_file=None, data_dir=root / "data")  # type: ignore[call-arg]
        folder = model_source(EMBEDDED_MODEL, settings.model_cache_dir)
        pipe = AutoPipelineForText2Image.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        engine = LocalEngine(settings.model_cache_dir)
        actor = Actor.local("bench")
        steps = settings.default_steps
        info = await engine.describe(EMBEDDED_MODEL)
        size = info.native_width

        async with open_app(settings, engine=engine) as app:
            # Warm-up: first calls pay for lazy initialisation everywhere.
            bare_pipeline_call(pipe, [0, 1, 2, 3], steps, size)
            warm = await app.service.imagine(actor, PROMPT)
            await app.runner.run(warm.job_id)

            batched, singles, bare, service = [], [], [], []
            for round_index in range(rounds):
                seeds = [round_index * 4 + i for i in range(4)]
                batched.append(timed(lambda s=seeds: bare_pipeline_call(pipe, s, steps, size)))
                singles.append(
                    timed(lambda s=seeds: [bare_pipeline_call(pipe, [x], steps, size) for x in s])
                )
                bare.append(timed(lambda s=seeds: bare_pipeline_call(pipe, s, steps, size)))
                start = time.perf_counter()
                queued = await app.service.imagine(actor, f"{PROMPT} --seed {seeds[0]}")
                await app.runner.run(queued.job_id)
                service.append(time.perf_counter() - start)

            grid = await app.service.imagine(actor, PROMPT)
            await app.runner.run(grid.job_id)
            image_id = (await app.service.show(grid.job_id)).images[0].id
            start = time.perf_counter()
            for _ in range(event_count):
                await app.service.react(actor, image_id, "👍")
            events_per_second = event_count / (time.perf_counter() - start)
        await engine.close()

    batched_s = statistics.median(batched)
    singles_s = statistics.median(singles)
    bare_s = statistics.median(bare)
    service_s = statistics.median(service)
    return {
        "model": EMBEDDED_MODEL,
        "size": f"{size}x{size}",
        "steps": steps,
        "rounds": rounds,
        "batched_4_s": round(batched_s, 4),
        "four_singles_s": round(singles_s, 4),
        "singles_over_batched": round(singles_s / batched_s, 3),
        "bare_pipeline_s": round(bare_s, 4),
        "service_end_to_end_s": round(service_s, 4),
        # Each round's service time over the bare call made just before it, so the machine's
        # drift between rounds cancels out; the median of those is the overhead ratio.
        "service_overhead_ratio": round(
            statistics.median(s / b for s, b in zip(service, bare, strict=True)), 3
        ),
        "service_overhead_ms": round(1000 * (service_s - bare_s), 1),
        "events_per_second_sqlite": round(events_per_second, 1),
        "torch_threads": torch.get_num_threads(),
    }


if __name__ == "__main__":
    silence_library_progress()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args.rounds, args.events))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
