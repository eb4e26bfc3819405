"""What the engine on a Ray cluster costs and gains, in one run on this machine: a local Ray
cluster (started here), the embedded model on CPU replicas.

1. One grid's time through Ray against the local engine in this process (the overhead ratio:
   serialising the request and the pictures, the hop to the replica, the streamed steps).
2. 16 grids from 16 people sent at once, through 1 and 2 replicas, with batching on (a replica
   gathers what comes within --gather seconds, up to 16 images a call) and off (one grid a
   call): grids a second, and each against one replica without batching.

Ratios are measured within the run (these machines are shared and noisy). Replicas share this
machine's cores: each gets --threads torch threads (default: the cores divided among them).

    python bench/bench_ray_engine.py [--steps 20] [--rounds 3] [--gather 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

from bench_engine_batching import grid_requests

from engine import LocalEngine
from engine.embedded import EMBEDDED_MODEL


async def timed(work: Awaitable[object]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


def deployed(replicas: int, batch_images: int, gather: float, threads: int, cache: str) -> None:
    from engine.ray_serve.application import Scaling, deploy
    from engine.ray_serve.replica import ReplicaOptions

    options = ReplicaOptions(
        EMBEDDED_MODEL,
        cache,
        device="cpu",
        batch_images=batch_images,
        gather_seconds=gather,
        threads=threads,
    )
    deploy(options, Scaling(replicas=replicas))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gather", type=float, default=0.05)
    parser.add_argument("--people", type=int, default=16)
    arguments = parser.parse_args()
    cores = os.cpu_count() or 1
    cache = tempfile.mkdtemp(prefix="bench-ray-")

    from engine.ray_serve.client import RayEngine
    from engine.ray_serve.cluster import start_local

    local = LocalEngine(Path(cache), device="cpu", threads=cores)
    await local.generate(grid_requests(1, arguments.steps, 99)[0])  # loaded and warm
    alone = [
        await timed(local.generate(grid_requests(1, arguments.steps, r)[0]))
        for r in range(arguments.rounds)
    ]
    await local.close()

    start_local(cpus=cores)
    engine = RayEngine("auto")
    deployed(1, 16, 0.0, cores, cache)
    await engine.generate(grid_requests(1, arguments.steps, 99)[0])
    remote = [
        await timed(engine.generate(grid_requests(1, arguments.steps, r)[0]))
        for r in range(arguments.rounds)
    ]
    print(
        f"one grid, {arguments.steps} steps: local {statistics.median(alone):.3f} s, "
        f"through Ray {statistics.median(remote):.3f} s "
        f"(overhead ratio {statistics.median(remote) / statistics.median(alone):.2f})"
    )

    results: dict[tuple[int, bool], float] = {}
    for replicas in (1, 2):
        for batching in (False, True):
            threads = max(1, cores // replicas)
            # Off: a call holds one grid (4 images), and nothing waits for company.
            deployed(
                replicas,
                16 if batching else 4,
                arguments.gather if batching else 0.0,
                threads,
                cache,
            )
            await asyncio.gather(
                *(engine.generate(r) for r in grid_requests(replicas * 2, arguments.steps, 98))
            )  # every replica loaded and warm
            rates = []
            for round_number in range(arguments.rounds):
                requests = grid_requests(arguments.people, arguments.steps, round_number)
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
