"""What each tool after an upscale and each newer prompt feature costs against a plain grid: the
local engine with the embedded model, a grid of four drawn plainly, as variations, zoomed out,
panned, made square, with a region redrawn, from an image prompt, from a blend and from a
weighted prompt, each several times in turn.

Prints the median seconds of each and its ratio to a plain grid's (ratios within one run: these
machines are shared and noisy). A pan draws a canvas half as large again, so it should cost
about half as much again; an inpainting call also encodes its canvas and mask.

    python bench/bench_edits.py [--steps 20] [--rounds 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

from PIL.Image import Image

from bot.core.jobs.image_prompts import strength_for
from engine import GenerationRequest, LocalEngine
from engine.blending import blend
from engine.canvas import Canvas, make_square, pan, vary_region, zoom_out
from engine.embedded import EMBEDDED_MODEL

PROMPT = "a large yellow star on the left on a black background"
SEEDS = (1, 2, 3, 4)
MULTIPLE = 16


def plain(steps: int, size: tuple[int, int] = (64, 64)) -> GenerationRequest:
    return GenerationRequest(
        model=EMBEDDED_MODEL,
        prompt=PROMPT,
        negative_prompt="",
        width=size[0],
        height=size[1],
        steps=steps,
        guidance=7.5,
        seeds=SEEDS,
    )


def on_canvas(steps: int, canvas: Canvas) -> GenerationRequest:
    return dataclasses.replace(
        plain(steps, canvas.image.size), init_image=canvas.image, mask=canvas.mask, strength=1.0
    )


async def run(args: argparse.Namespace) -> None:
    engine = LocalEngine(Path(tempfile.mkdtemp()), device=args.device)
    try:
        [picture] = await engine.generate(dataclasses.replace(plain(args.steps), seeds=(9,)))
        [wide] = await engine.generate(dataclasses.replace(plain(args.steps, (96, 64)), seeds=(9,)))
        operations: dict[str, Callable[[Image, Image], GenerationRequest]] = {
            "plain grid": lambda _p, _w: plain(args.steps),
            "vary (strong)": lambda p, _w: dataclasses.replace(
                plain(args.steps), init_image=p, strength=0.65, chaos=100
            ),
            "zoom out 2x": lambda p, _w: on_canvas(args.steps, zoom_out(p, 2.0)),
            "pan right": lambda p, _w: on_canvas(args.steps, pan(p, "right", MULTIPLE)),
            "make square (96x64)": lambda _p, w: on_canvas(args.steps, make_square(w, MULTIPLE)),
            "vary region (left half)": lambda p, _w: on_canvas(
                args.steps, vary_region(p, ["left-half"])
            ),
            # /imagine with an image at --iw 1, and /blend of two (mixing them is cheap).
            "image prompt (--iw 1)": lambda p, _w: dataclasses.replace(
                plain(args.steps), init_image=blend([p], (64, 64)), strength=strength_for(1.0)
            ),
            "blend of 2": lambda p, w: dataclasses.replace(
                plain(args.steps), init_image=blend([p, w], (64, 64)), strength=strength_for(1.0)
            ),
            # compel encodes each part apart, then the pipeline draws as usual.
            "weighted prompt (2 parts)": lambda _p, _w: dataclasses.replace(
                plain(args.steps), prompt="a large yellow star::2 a black background::1"
            ),
        }
        seconds: dict[str, list[float]] = {name: [] for name in operations}
        for make in operations.values():
            await engine.generate(make(picture, wide))  # warm: the pipeline is built once
        for _ in range(args.rounds):
            for name, make in operations.items():
                start = time.perf_counter()
                await engine.generate(make(picture, wide))
                seconds[name].append(time.perf_counter() - start)
        base = median(seconds["plain grid"])
        print(f"embedded model, {args.steps} steps, {args.rounds} rounds, device {args.device}")
        for name, times in seconds.items():
            print(f"{name:28} {median(times):6.3f} s   x{median(times) / base:.2f}")
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
