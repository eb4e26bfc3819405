"""What the engine on a Ray cluster costs and gains, in one run on this machine: a local Ray
cluster (started here), the embedded model on CPU replicas (or, with --model sd15-random
--device cuda, a Stable Diffusion 1.5-sized model with random weights on GPU replicas: two
replicas then share the one GPU, half each).

1. One grid's time through Ray against the local engine in this process (the overhead ratio:
   serialising the request and the pictures, the hop to the replica, the streamed steps).
2. 16 grids from 16 people sent at once, through 1 and 2 replicas, with batching on (a replica
   gathers what comes within --gather seconds, up to 16 images a call) and off (one grid a
   call): grids a second, and each against one replica without batching.

Ratios are measured within the run (these machines are shared and noisy). Replicas share this
machine's cores: each gets --threads torch threads (default: the cores divided among them).

    python bench/bench_ray_engine.py [--steps 20] [--rounds 3] [--gather 0.05]
        [--model embedded|sd15-random] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from pathlib import Path

from bench_engine_batching import grid_requests

from engine import GenerationRequest, LocalEngine
from engine.embedded import EMBEDDED_MODEL


async def timed(work: Awaitable[object]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


@dataclass(frozen=True)
class Setup:
    model: str
    size: int
    device: str
    cache: str
    steps: int

    def requests(self, count: int, round_number: int) -> list[GenerationRequest]:
        return [
            replace(request, model=self.model, width=self.size, height=self.size)
            for request in grid_requests(count, self.steps, round_number)
        ]

    def deploy(self, replicas: int, batch_images: int, gather: float, threads: int) -> None:
        from engine.ray_serve.application import Scaling, deploy
        from engine.ray_serve.replica import ReplicaOptions

        options = ReplicaOptions(
            self.model,
            self.cache,
            device=self.device,
            batch_images=batch_images,
            gather_seconds=gather,
            threads=threads,
        )
        gpus = 1 / replicas if self.device == "cuda" else 0.0
        deploy(options, Scaling(replicas=replicas), gpus)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gather", type=float, default=0.05)
    parser.add_argument("--people", type=int, default=16)
    parser.add_argument("--model", choices=["embedded", "sd15-random"], default="embedded")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    arguments = parser.parse_args()
    cores = os.cpu_count() or 1
    cache = tempfile.mkdtemp(prefix="bench-ray-")
    if arguments.model == "embedded":
        setup = Setup(EMBEDDED_MODEL, 64, arguments.device, cache, arguments.steps)
    else:
        from sd15_random import build_sd15_random

        folder = build_sd15_random(Path(cache) / "sd15-random")
        setup = Setup(str(folder), 512, arguments.device, cache, arguments.steps)

    from engine.ray_serve.client import RayEngine
    from engine.ray_serve.cluster import start_local

    start_local(cpus=cores)
    engine = RayEngine("auto")
    setup.deploy(1, 16, 0.0, cores)
    local = LocalEngine(Path(cache), device=arguments.device, threads=cores)
    (warm,) = setup.requests(1, 99)
    await local.generate(warm)
    await engine.generate(warm)
    # Taken in turns, so that the machine's drift falls on both alike.
    alone, remote = [], []
    for round_number in range(arguments.rounds):
        (request,) = setup.requests(1, round_number)
        alone.append(await timed(local.generate(request)))
        remote.append(await timed(engine.generate(request)))
    await local.close()
    here, there = statistics.median(alone), statistics.median(remote)
    print(
        f"{setup.model} {setup.size}px on {setup.device}, one grid, {arguments.steps} steps: "
        f"local {here:.3f} s, through Ray {there:.3f} s (overhead ratio {there / here:.2f})"
    )

    results: dict[tuple[int, bool], float] = {}
    for replicas in (1, 2):
        for batching in (False, True):
            threads = max(1, cores // replicas)
            # Off: a call holds one grid (4 images), and nothing waits for company.
            setup.deploy(
                replicas, 16 if batching else 4, arguments.gather if batching else 0.0, threads
            )
            # Every replica loaded and warm.
            await asyncio.gather(*(engine.generate(r) for r in setup.requests(replicas * 2, 98)))
            rates = []
            for round_number in range(arguments.rounds):
                requests = setup.requests(arguments.people, round_number)
                seconds = await timed(asyncio.gather(*(engine.generate(r) for r in requests)))
                rates.append(arguments.people / seconds)
            results[(replicas, batching)] = statistics.median(rates)
    base = results[(1, False)]
    for (replicas, batching), rate in results.items():
        print(
            f"{arguments.people} grids at once, {replicas} replica(s), batching "
            f"{'on ' if batching else 'off'}: {rate:.2f} grids/s ({rate / base:.2f}x)"
        )


if __name__ == "__main__":
    asyncio.run(main())
