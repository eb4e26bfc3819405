"""What drawing several people's grids in one pipeline call saves: the local engine with the
embedded model, k grids (four pictures each, different prompts and seeds) asked while the
engine is busy, so that they wait for it together, against the same grids asked one at a time.

Prints seconds per grid for each k, and the speed-up over one at a time (a ratio within one run:
these machines are shared and noisy).

    python bench/bench_engine_batching.py [--grids 1,2,4,8] [--steps 12] [--rounds 3]
        [--batch-images 32] [--device cpu]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

from engine import GenerationRequest, LocalEngine
from engine.embedded import EMBEDDED_MODEL

PROMPTS = [
    "a red circle on a blue background",
    "a large green star on a yellow background",
    "a small purple square on an orange background",
    "a blue triangle on a red background",
]


def grid_requests(count: int, steps: int, round_number: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            model=EMBEDDED_MODEL,
            prompt=PROMPTS[i % len(PROMPTS)],
            negative_prompt="",
            width=64,
            height=64,
            steps=steps,
            guidance=7.5,
            seeds=tuple(range(1000 * round_number + 4 * i, 1000 * round_number + 4 * i + 4)),
        )
        for i in range(count)
    ]


async def one_at_a_time(engine: LocalEngine, requests: list[GenerationRequest]) -> float:
    started = time.perf_counter()
    for request in requests:
        await engine.generate(request)
    return time.perf_counter() - started


async def waiting_together(engine: LocalEngine, requests: list[GenerationRequest]) -> float:
    # The worker is held for a moment so that every request is waiting when it comes free, as
    # when several people's grids line up behind a running one.
    release = threading.Event()
    busy = asyncio.ensure_future(engine.run_on_engine_thread(release.wait))
    asked = [asyncio.ensure_future(engine.generate(request)) for request in requests]
    await asyncio.sleep(0)
    started = time.perf_counter()
    release.set()
    await busy
    await asyncio.gather(*asked)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", default="1,2,4,8")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-images", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    counts = [int(count) for count in args.grids.split(",")]
    engine = LocalEngine(
        Path(tempfile.mkdtemp()), device=args.device, batch_images=args.batch_images
    )
    try:
        await engine.generate(grid_requests(2, args.steps, 0)[0])  # load and warm up
        print(f"{'grids':>5} {'alone s/grid':>13} {'together s/grid':>16} {'speed-up':>9}")
        for count in counts:
            alone = together = 0.0
            for round_number in range(1, args.rounds + 1):
                requests = grid_requests(count, args.steps, round_number)
                alone += await one_at_a_time(engine, requests)
                together += await waiting_together(engine, requests)
            per_grid = args.rounds * count
            print(
                f"{count:>5} {alone / per_grid:>13.3f} {together / per_grid:>16.3f}"
                f" {alone / together:>9.2f}"
            )
    finally:
        await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
