"""What a second torch thread costs: grid time through the in-process engine, alone, and once
another thread of the same process has also run torch (as the loop demo did when it trained on
its main thread while the engine generated on its worker).

Each mode runs in a fresh process (the slowdown lasts as long as the second thread lives), the
modes alternate over rounds because these machines are shared and noisy, and the ratio of the
medians is printed.

    python bench/bench_torch_threads.py [--rounds 3] [--grids 4] [--steps 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path

PROMPT = "a large red star in the centre on a blue background"


def _other_thread_uses_torch() -> threading.Thread:
    """A thread that runs one small torch op and then stays alive, idle, like a caller that
    trained a model and went on with other work."""
    import torch

    done = threading.Event()
    stay = threading.Event()

    def use() -> None:
        torch.ones(256, 256) @ torch.ones(256, 256)
        done.set()
        stay.wait()

    thread = threading.Thread(target=use, daemon=True)
    thread.start()
    done.wait()
    return thread


def _grid_seconds(mode: str, grids: int, steps: int) -> float:
    """The median seconds of a 2x2 grid in a fresh engine, in this (child) process."""
    from engine import GenerationRequest, LocalEngine
    from engine.chatter import silence_library_progress

    silence_library_progress()
    if mode == "two threads":
        _other_thread_uses_torch()

    async def run() -> list[float]:
        engine = LocalEngine(Path(tempfile.mkdtemp()), device="cpu")
        request = GenerationRequest(
            model="embedded",
            prompt=PROMPT,
            negative_prompt="",
            width=64,
            height=64,
            steps=steps,
            guidance=7.5,
            seeds=(1, 2, 3, 4),
        )
        try:
            await engine.generate(request)  # warm-up: load, first-call costs
            times = []
            for _ in range(grids):
                start = time.perf_counter()
                await engine.generate(request)
                times.append(time.perf_counter() - start)
            return times
        finally:
            await engine.close()

    return statistics.median(asyncio.run(run()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--grids", type=int, default=4, help="Grids timed per process.")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    modes = ("engine thread only", "two threads")
    found: dict[str, list[float]] = {mode: [] for mode in modes}
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        for _ in range(args.rounds):
            for mode in modes:
                found[mode].append(pool.apply(_grid_seconds, (mode, args.grids, args.steps)))
    medians = {mode: statistics.median(times) for mode, times in found.items()}
    ratio = medians["two threads"] / medians["engine thread only"]
    if args.json:
        print(json.dumps({"seconds_per_grid": medians, "ratio": ratio, "rounds": args.rounds}))
        return
    for mode, seconds in medians.items():
        print(f"{mode:>20}: {seconds:.3f} s a 2x2 grid at {args.steps} steps")
    print(f"{'ratio':>20}: {ratio:.2f}x slower with a second torch thread")


if __name__ == "__main__":
    main()
