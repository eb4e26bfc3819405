"""How far the loop demo's fine-tuning moves the embedded model towards its people's taste,
judged without votes, over several training seeds, for the people's clicks and for random ones.

The loop demo judges each adapter once, by 96 votes: a figure with an interval of +-10 points,
from one training seed. This benchmark asks the question behind it more precisely and more
cheaply. It collects both arms' data once, as the demo does (the same people, prompts, curation
and export; kept in `--folder` and reused by later runs with the same collection options), then
trains an adapter per arm and training seed with the demo's options, and draws a fixed set of
fresh prompts (the size left open) with each adapter and with the base model, same seeds. It
prints, per adapter:

- `expected_win`: the chance that a person with the taste picks a tuned picture from a grid of
  two tuned and two base pictures, as the people's logit choice makes it (exp(taste / noise)
  weights), averaged over every way of taking two seeds from each side: what the demo's win rate
  estimates, without the votes' noise. The people's adapters should sit well above 0.5 and the
  random clicks' adapters near it, whatever the training seed.
- the taste (mean share of the picture covered) of the base and the tuned pictures, the share of
  pictures that hold a large thing, and the seconds per training step.

An adapter wins some prompts outright (it draws the thing large in every seed) and loses others
(it draws the things a little smaller, or so large they touch the picture's edge): one adapter
scored 0.67 on 32 prompts and 0.55 on 48 others. Judge on many prompts (96 by default).

    python bench/bench_loop_taste.py --folder /tmp/loop-taste [--taste larger] [--people 8]
        [--grids 40] [--train-steps 500] [--learning-rate 5e-4] [--batch 32] [--training-seeds 0,1]
        [--arms taste,random] [--set OPTION=VALUE] [--extrapolations 1,2,3] [--prompts 96] [--json]
    python bench/bench_loop_taste.py --judge OUT/main/adapters/kto OUT/control/adapters/kto

Timings here are the training's own (seconds per step); compare adapters within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import random
from functools import partial
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

from PIL.Image import Image

from bot.config import Settings
from bot.core.models.fine_tune import fine_tune
from bot.lab.loop.demo import arm_settings_for, collect, demo_engine, preference_options, prompts
from bot.lab.loop.options import DEMO_TRAINING, LoopOptions
from bot.lab.loop.taste import TASTES, Taste
from engine import LocalEngine
from engine.adapters import WEIGHTS
from engine.toy.judge import SIDE, Blob, things
from engine.train.options import Method
from engine.types import GenerationRequest

Clicks = Literal["taste", "random"]
# Prompts and seeds the adapters are judged on: never those of the collection or the demo's panel.
JUDGE_PROMPT_SEED = 4242
SEEDS_PER_PROMPT = 4
# A thing covering this much of the picture is drawn large (small ones cover about 4%).
LARGE_THING = 0.08

DEFAULTS = LoopOptions()


def expected_win(tuned: list[float], base: list[float], noise: float) -> float:
    """The chance a logit chooser picks a tuned picture from a grid of two tuned and two base
    pictures of one prompt, averaged over every split of the seeds between the two sides."""
    seeds = range(len(tuned))
    chances = []
    for mine in itertools.combinations(seeds, 2):
        theirs = [seed for seed in seeds if seed not in mine]
        top = max(max(tuned), max(base))
        tuned_weight = sum(math.exp((tuned[s] - top) / noise) for s in mine)
        base_weight = sum(math.exp((base[s] - top) / noise) for s in theirs)
        chances.append(tuned_weight / (tuned_weight + base_weight))
    return fmean(chances)


def holds_large_thing(blobs: list[Blob]) -> bool:
    return any(blob.area / SIDE**2 >= LARGE_THING for blob in blobs)


def holds_red_thing(blobs: list[Blob]) -> bool:
    return any(blob.colour == "red" for blob in blobs)


async def draw(
    engine: LocalEngine,
    settings: Settings,
    options: LoopOptions,
    taste: Taste,
    count: int,
    adapter: Path | None,
) -> list[list[Image]]:
    """`count` judging prompts, SEEDS_PER_PROMPT pictures each, with `adapter` or the base."""
    info = await engine.describe(settings.model)
    seeds = random.Random(JUDGE_PROMPT_SEED)
    drawn = []
    for prompt in itertools.islice(prompts(JUDGE_PROMPT_SEED, taste.leaves_open), count):
        request = GenerationRequest(
            model=settings.model,
            prompt=prompt,
            negative_prompt="",
            width=info.native_width,
            height=info.native_height,
            steps=options.steps,
            guidance=settings.default_guidance,
            seeds=tuple(seeds.randrange(2**32) for _ in range(SEEDS_PER_PROMPT)),
            adapter=None if adapter is None else str(adapter),
        )
        drawn.append(await engine.generate(request))
    return drawn


def extrapolated_copy(adapter: Path, factor: float) -> Path:
    """A copy of a written adapter with `factor` times its change to every weight (LoRA's up
    projections scaled): what `--extrapolate` would have written, without training again."""
    from safetensors.torch import load_file, save_file

    if factor == 1:
        return adapter
    weights = load_file(adapter / WEIGHTS)
    scaled = {key: w * factor if ".lora.up." in key else w for key, w in weights.items()}
    copy = adapter.with_name(f"{adapter.name}-x{factor:g}")
    copy.mkdir(exist_ok=True)
    save_file(scaled, copy / WEIGHTS)
    return copy


def summary(pictures: list[list[Image]], taste: Taste) -> dict[str, Any]:
    flat = [picture for group in pictures for picture in group]
    # The judge's reading of each picture, made once for every count below.
    seen = [things(picture) for picture in flat]
    return {
        "taste": round(fmean(taste(p) for p in flat), 4),
        "large_share": round(fmean(holds_large_thing(blobs) for blobs in seen), 3),
        "red_share": round(fmean(holds_red_thing(blobs) for blobs in seen), 3),
    }


async def collected_data(
    options: LoopOptions,
    taste: Taste,
    clicks: Clicks,
    folder: Path,
    settings: Settings,
    engine: LocalEngine,
) -> tuple[Settings, dict[Method, Path], tuple[int, int]]:
    """An arm's exports and its count of positive and negative labels, collected now or, with
    the same collection options, by an earlier run into `folder`."""
    record = folder / "collected.json"
    wanted = {"options": _collection_options(options), "clicks": clicks}
    if record.is_file():
        known = json.loads(record.read_text())
        if known["wanted"] != wanted:
            raise SystemExit(f"{folder} holds data collected otherwise; give another --folder")
        arm_settings = arm_settings_for(settings, folder, options.steps)
        exports = {method: Path(path) for method, path in known["exports"].items()}
        return arm_settings, exports, tuple(known["labels"])
    data = await collect(options, taste, clicks, folder, settings, engine, print)
    labels = (data.curation.positive_labels, data.curation.negative_labels)
    record.write_text(
        json.dumps(
            {
                "wanted": wanted,
                "exports": {method: str(path) for method, path in data.exports.items()},
                "labels": labels,
            }
        )
    )
    return data.settings, data.exports, labels


def _collection_options(options: LoopOptions) -> dict[str, Any]:
    fields = ("taste", "people", "grids_per_person", "steps", "seed", "methods")
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in options.model_dump().items()
        if name in fields
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    options = LoopOptions(
        taste=args.taste,
        people=args.people,
        grids_per_person=args.grids,
        training=DEMO_TRAINING.changed(
            steps=args.train_steps, learning_rate=args.learning_rate, batch_size=args.batch
        ),
        seed=args.seed,
        methods=(args.method,),
    )
    taste = TASTES[options.taste]
    settings = Settings(_env_file=None)
    rows = []
    async with demo_engine(settings) as engine:
        base = await draw(engine, settings, options, taste, args.prompts, None)
        base_scores = [[taste(p) for p in group] for group in base]

        async def judged(adapter: Path) -> dict[str, Any]:
            tuned = await draw(engine, settings, options, taste, args.prompts, adapter)
            wins = [
                expected_win([taste(p) for p in group], scores, taste.noise)
                for group, scores in zip(tuned, base_scores, strict=True)
            ]
            return {
                "expected_win": round(fmean(wins), 3),
                "base": summary(base, taste),
                "tuned": summary(tuned, taste),
            }

        for adapter in args.judge:
            rows.append({"adapter": str(adapter)} | await judged(adapter))
            print(json.dumps(rows[-1]), flush=True)
        for clicks in [] if args.judge else args.arms:
            folder = args.folder / clicks
            arm_settings, exports, (positive, negative) = await collected_data(
                options, taste, clicks, folder, settings, engine
            )
            for training_seed in args.training_seeds:
                training = preference_options(
                    options, args.method, positive_labels=positive, negative_labels=negative
                ).changed(seed=training_seed, **args.set)
                name = (
                    f"{args.method}-steps{training.steps}-lr{training.learning_rate:g}"
                    f"-batch{training.batch_size}-seed{training_seed}"
                    + "".join(f"-{key}{value}" for key, value in sorted(args.set.items()))
                )
                trained = await engine.run_on_engine_thread(
                    partial(
                        fine_tune,
                        training,
                        str(exports[args.method]),
                        folder / "adapters" / name,
                        settings=arm_settings,
                        progress=False,
                    )
                )
                for factor in args.extrapolations:
                    row = {
                        "clicks": clicks,
                        "training_seed": training_seed,
                        "extrapolated": factor,
                        **await judged(extrapolated_copy(trained.adapter, factor)),
                        "seconds_per_step": round(trained.seconds_per_step, 3),
                        "labels": {"positive": positive, "negative": negative},
                        "options": args.set,
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    by_arm = {
        f"{clicks} x{factor:g}": round(
            fmean(
                r["expected_win"]
                for r in rows
                if r.get("clicks") == clicks and r["extrapolated"] == factor
            ),
            3,
        )
        for clicks in ([] if args.judge else args.arms)
        for factor in args.extrapolations
    }
    return {
        "options": options.model_dump(mode="json"),
        "adapters": rows,
        "mean_expected_win": by_arm,
    }


def override(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    return name, json.loads(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="the collected data (kept for later runs)")
    parser.add_argument("--taste", choices=sorted(TASTES), default=DEFAULTS.taste)
    parser.add_argument(
        "--people",
        type=int,
        default=DEFAULTS.people,
        help="people whose clicks train each adapter (1: a personal profile's data)",
    )
    parser.add_argument("--grids", type=int, default=DEFAULTS.grids_per_person)
    parser.add_argument("--train-steps", type=int, default=DEMO_TRAINING.steps)
    parser.add_argument("--learning-rate", type=float, default=DEMO_TRAINING.learning_rate)
    parser.add_argument("--batch", type=int, default=DEMO_TRAINING.batch_size)
    parser.add_argument("--method", choices=("kto", "dpo"), default=DEFAULTS.methods[0])
    parser.add_argument("--seed", type=int, default=0, help="the collection's seed")
    parser.add_argument(
        "--training-seeds", type=lambda text: [int(s) for s in text.split(",")], default=[0, 1]
    )
    parser.add_argument("--arms", type=lambda text: text.split(","), default=["taste", "random"])
    parser.add_argument(
        "--set",
        type=override,
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="a training option other than the demo's (JSON value), e.g. balanced_batches=true",
    )
    parser.add_argument(
        "--judge",
        type=Path,
        nargs="+",
        default=[],
        metavar="ADAPTER",
        help="judge these adapter folders (a loop demo's, say) instead of collecting and training",
    )
    parser.add_argument(
        "--extrapolations",
        type=lambda text: [float(f) for f in text.split(",")],
        default=[1.0],
        help="judge each trained adapter at these multiples of its change too, e.g. 1,2,3",
    )
    parser.add_argument("--prompts", type=int, default=96, help="judging prompts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.set = dict(args.set)
    if args.folder is None and not args.judge:
        parser.error("give --folder, or adapters to --judge")
    found = asyncio.run(run(args))
    if args.json:
        print(json.dumps(found))
    else:
        for clicks, win in found["mean_expected_win"].items():
            print(f"{clicks}: mean expected win {win:.3f}")


if __name__ == "__main__":
    main()
