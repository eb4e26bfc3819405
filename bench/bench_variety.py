"""How different the pictures of the embedded model's grids, re-rolls and variations are, and
whether they still show what their prompts say.

For held-out toy-world prompts (every attribute said): the mean pairwise distance of a grid's
pictures at --chaos 0, 25 and 100, the distance between a picture and the one at its place in a
re-roll, and each variation's distance from its source (the first picture of the grid at the
default --chaos) with fine noise only (pickloop before coarse noise reached variations) and with
the defaults: Vary (Subtle) and Vary (Strong). Distances are mean absolute pixel differences in
0-255 levels; the toy judge counts the things drawn in the right colour, shape, size and place,
as the model card does.

    python bench/bench_variety.py [--prompts 24] [--steps 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
from pathlib import Path
from statistics import fmean

import numpy as np
from PIL.Image import Image

from bot.config import Settings
from engine import EMBEDDED_MODEL, GenerationRequest, LocalEngine
from engine.toy.judge import Verdict, judge, score
from engine.toy.world import evaluation_scenes


def distance(first: Image, second: Image) -> float:
    difference = np.asarray(first, dtype=np.float32) - np.asarray(second, dtype=np.float32)
    return float(np.abs(difference).mean())


def measures(verdicts: list[Verdict]) -> str:
    found = score(verdicts)
    return (
        f"colour {found['color_accuracy']:.2f} shape {found['shape_accuracy']:.2f} "
        f"size {found['size_accuracy']:.2f} position {found['position_accuracy']:.2f}"
    )


async def run(args: argparse.Namespace) -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = LocalEngine(Path(tempfile.mkdtemp()), device="cpu")

    def request(prompt: str, seeds: tuple[int, ...], **changes: object) -> GenerationRequest:
        return GenerationRequest(
            model=EMBEDDED_MODEL,
            prompt=prompt,
            negative_prompt="",
            width=64,
            height=64,
            steps=args.steps,
            guidance=7.5,
            seeds=seeds,
            **changes,  # type: ignore[arg-type]
        )

    variations = {
        "fine noise only, strength 0.35": (0.35, 0),
        "fine noise only, strength 0.7": (0.7, 0),
        f"Vary (Subtle): {defaults.vary_subtle_strength}, chaos {defaults.vary_subtle_chaos}": (
            defaults.vary_subtle_strength,
            defaults.vary_subtle_chaos,
        ),
        f"Vary (Strong): {defaults.vary_strong_strength}, chaos {defaults.vary_strong_chaos}": (
            defaults.vary_strong_strength,
            defaults.vary_strong_chaos,
        ),
    }
    spread: dict[int, list[float]] = {chaos: [] for chaos in (0, 25, 100)}
    rerolled: list[float] = []
    moved: dict[str, list[float]] = {name: [] for name in variations}
    judged: dict[str, list[Verdict]] = {name: [] for name in [*map(str, spread), *variations]}
    try:
        for scene, prompt in evaluation_scenes(args.prompts, seed=7):
            for chaos in spread:
                drawn = await engine.generate(request(prompt, (1, 2, 3, 4), chaos=chaos))
                if chaos == defaults.default_chaos:
                    grid = drawn
                pairs = itertools.combinations(drawn, 2)
                spread[chaos].append(fmean(distance(a, b) for a, b in pairs))
                judged[str(chaos)].extend(judge(picture, scene) for picture in drawn)
            again = await engine.generate(
                request(prompt, (5, 6, 7, 8), chaos=defaults.default_chaos)
            )
            rerolled.append(fmean(distance(a, b) for a, b in zip(grid, again, strict=True)))
            source = grid[0]
            for name, (strength, chaos) in variations.items():
                varied = await engine.generate(
                    request(
                        prompt, (11, 12, 13, 14), init_image=source, strength=strength, chaos=chaos
                    )
                )
                moved[name].append(fmean(distance(picture, source) for picture in varied))
                judged[name].extend(judge(picture, scene) for picture in varied)
    finally:
        await engine.close()
    print(f"embedded model, {args.prompts} held-out prompts, {args.steps} steps")
    for chaos, values in spread.items():
        print(
            f"grid, --chaos {chaos:3}: pictures {fmean(values):5.2f} apart  "
            f"{measures(judged[str(chaos)])}"
        )
    print(
        f"re-roll (--chaos {defaults.default_chaos}): {fmean(rerolled):5.2f} from the picture "
        "before"
    )
    base = fmean(moved["fine noise only, strength 0.35"])
    for name, values in moved.items():
        print(
            f"{name:38} {fmean(values):5.2f} from source (x{fmean(values) / base:.1f})  "
            f"{measures(judged[name])}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--steps", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
