"""The feedback loop, run end to end by simulated people (``pickloop loop-demo``).

Two runs ("arms"), each in a database and image store of its own, through the real job
service, runner, engine, curation, export, fine-tuning and model registry:

1. **Collect.** People imagine grids of toy-world prompts and do what they would do with them:
   upscale the picture they like best (U1-U4) or re-roll a disappointing grid (🔄). In the
   main arm the people have a hidden taste (``bot.lab.loop.taste``), with noise, and they ❤️ or 👎
   the picture they upscaled when it is clearly what they hoped for or not; in the control arm
   they click and react at random.
2. **Curate, export, fine-tune.** The clicks are curated and exported as ``pairs`` and ``kto``
   datasets, and a LoRA adapter is trained on each (Diffusion-DPO and Diffusion-KTO), exactly
   as ``pickloop export`` and ``pickloop train`` do, and written extrapolated (three times the
   change training made, by default: ``LoopOptions.training.extrapolate``).
3. **Compare blind.** Each adapter is registered as a model version and served against the base
   model: every new grid shows two pictures of each at random positions. A panel of people
   with the hidden taste (in the main arm, the same people who made the data) imagine fresh
   prompts and click as before; their U-clicks are the votes of ``pickloop models report``.

The control arm trains the headline method only (the first of ``LoopOptions.methods``) and is
judged by the same kind of panel, so the only difference between the arms is who made the
training data: its win rate must stay within its interval of 50%, or the gain would not be the
people's doing.

The people's prompts never name what their taste is about (the size of things, or their
colour), so the embedded model chooses it seed by seed and a grid shows them what they like
next to what they do not: the choice a click records.

KTO comes first by default: on the embedded model it moved the pictures further than DPO for
the same pictures a step (a DPO step sees half as many pairs, so both cost about 0.35 s on a
2-core CPU), and its labels use every picture of a grid.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

from bot.config import Settings
from bot.core.app import App, local_engine, open_app
from bot.core.errors import UserError
from bot.core.jobs.service import model_version_name
from bot.core.loop.recipe import preference_training
from bot.core.models.fine_tune import FineTuned, fine_tune
from bot.core.models.registry import ModelRegistry
from bot.lab.loop.community import Activity, Community
from bot.lab.loop.options import LoopOptions
from bot.lab.loop.people import SimulatedPerson
from bot.lab.loop.taste import TASTES, Taste
from engine import LocalEngine
from engine.train.options import Method, TrainingOptions
from storage.export import FORMATS, ExportError, export_from_database
from storage.labels.curate import Curation, CurationReport, curate
from storage.labels.winrate import WinRate

Stage = Callable[[str], None]
"""Told what the demo is doing now, in a few words (a progress line)."""


@dataclass(frozen=True)
class Comparison:
    """One tuned version against the base, as the panel judged it in blind grids."""

    method: Method
    votes: WinRate
    taste_base: float
    """The mean taste score of the base model's pictures in the compared grids."""
    taste_tuned: float
    training: FineTuned

    def to_json(self) -> dict[str, Any]:
        return {
            "win_rate": self.votes.rate,
            "win_rate_ci": list(self.votes.interval() or (0.0, 1.0)),
            "votes": self.votes.votes,
            "taste_base": self.taste_base,
            "taste_tuned": self.taste_tuned,
            "training": self.training.to_json(),
        }


@dataclass(frozen=True)
class Collected:
    """One arm's data, collected, curated and exported: what its adapters are trained on."""

    clicks: Literal["taste", "random"]
    people: list[SimulatedPerson]
    """Who made it (the main arm's panel is these same people)."""
    settings: Settings
    """The arm's own settings (its database and image store)."""
    activity: Activity
    curation: CurationReport
    exports: dict[Method, Path]


@dataclass(frozen=True)
class ArmResult:
    folder: Path
    data: Collected
    comparisons: dict[str, Comparison]

    def to_json(self) -> dict[str, Any]:
        kept, activity = self.data.curation, self.data.activity
        return {
            "clicks": self.data.clicks,
            "folder": str(self.folder),
            "grids": activity.grids,
            "upscales": activity.upscales,
            "rerolls": activity.rerolls,
            "reactions": activity.reactions,
            "pairs": kept.pairs,
            "labels": kept.positive_labels + kept.negative_labels,
            "comparisons": {name: found.to_json() for name, found in self.comparisons.items()},
        }


@dataclass(frozen=True)
class LoopResult:
    options: LoopOptions
    main: ArmResult
    control: ArmResult | None
    seconds: float

    @property
    def headline(self) -> Comparison:
        """The first method's comparison: what the demo's headline numbers are about."""
        return self.main.comparisons[self.options.methods[0]]

    def to_json(self) -> dict[str, Any]:
        head = self.headline.to_json()
        found: dict[str, Any] = {
            "taste": self.options.taste,
            "method": self.headline.method,
            "taste_before": head["taste_base"],
            "taste_after": head["taste_tuned"],
            "win_rate": head["win_rate"],
            "win_rate_ci": head["win_rate_ci"],
        }
        if self.control is not None:
            control = self.control.comparisons[self.headline.method].to_json()
            found |= {
                "control_taste_before": control["taste_base"],
                "control_taste_after": control["taste_tuned"],
                "control_win_rate": control["win_rate"],
                "control_win_rate_ci": control["win_rate_ci"],
            }
        found["minutes"] = round(self.seconds / 60, 2)
        found["arms"] = {"main": self.main.to_json()}
        if self.control is not None:
            found["arms"]["control"] = self.control.to_json()
        found["options"] = self.options.model_dump(mode="json")
        return found


# Prompts come from the toy world's training stream under other seeds: the kind of caption the
# embedded model knows how to draw, but not the very captions it was trained on.
_PROMPT_SEEDS = 1_000_003


def prompts(seed: int, leave_out: str) -> Iterator[str]:
    """Toy-world captions that never name `leave_out` (an open attribute of the toy
    captions), endlessly: what people who leave that to the model would ask for."""
    from engine.toy.world import captioned, training_scenes

    phrasings = random.Random(f"loop-demo-phrasings-{seed}")
    for scene, _ in training_scenes(_PROMPT_SEEDS + seed):
        yield captioned(phrasings, scene, (leave_out,))[1]


async def run_loop_demo(
    options: LoopOptions,
    folder: Path,
    settings: Settings,
    engine: LocalEngine,
    stage: Stage = lambda _: None,
) -> LoopResult:
    """The whole demonstration, into `folder` (which must not hold an earlier one)."""
    if await asyncio.to_thread(_holds_anything, folder):
        raise UserError(f"{folder} is not empty; give the demo a new folder")
    clock = time.perf_counter()
    taste = TASTES[options.taste]
    main = await _run_arm(options, taste, "taste", folder / "main", settings, engine, stage)
    control = None
    if options.control:
        control = await _run_arm(
            options, taste, "random", folder / "control", settings, engine, stage
        )
    return LoopResult(options, main, control, time.perf_counter() - clock)


def _holds_anything(folder: Path) -> bool:
    return folder.exists() and any(folder.iterdir())


def _people(name: str, taste: Taste | None, options: LoopOptions) -> list[SimulatedPerson]:
    """`options.people` simulated people, `name`-1 onwards, with `taste` (None: at random)."""
    return [SimulatedPerson(f"{name}-{i + 1}", taste, options.seed) for i in range(options.people)]


async def collect(
    options: LoopOptions,
    taste: Taste,
    clicks: Literal["taste", "random"],
    folder: Path,
    settings: Settings,
    engine: LocalEngine,
    stage: Stage = lambda _: None,
) -> Collected:
    """An arm's first step: its people use the bot, and their clicks are curated and
    exported for `options.methods` (the headline method alone for random clicks)."""
    arm_settings = arm_settings_for(settings, folder, options.steps)
    people = _people(clicks, taste if clicks == "taste" else None, options)
    async with open_app(
        arm_settings, engine=engine, chance=_service_chance(options, clicks, "collect")
    ) as app:
        stage(f"{clicks} arm: people make and judge grids")
        activity = await Community(app, options.seed).collect(
            people,
            prompts(options.seed, taste.leaves_open),
            options.grids_per_person,
        )
        stage(f"{clicks} arm: curating and exporting")
        report = await curate(app.database, Curation())
        # The control only has to show that the headline method gains nothing from clicks that
        # carry no taste; its other methods would cost the demo minutes and say nothing more.
        methods = options.methods if clicks == "taste" else options.methods[:1]
        exports = {method: await _export(app, folder, method) for method in methods}
    return Collected(clicks, people, arm_settings, activity, report, exports)


async def _run_arm(
    options: LoopOptions,
    taste: Taste,
    clicks: Literal["taste", "random"],
    folder: Path,
    settings: Settings,
    engine: LocalEngine,
    stage: Stage,
) -> ArmResult:
    data = await collect(options, taste, clicks, folder, settings, engine, stage)
    arm_settings = data.settings
    base = model_version_name(arm_settings.model)
    # The panel: the same people in the main arm; people with the taste in the control arm.
    panel = data.people if clicks == "taste" else _people("panel", taste, options)
    async with open_app(
        arm_settings, engine=engine, chance=_service_chance(options, clicks, "compare")
    ) as app:
        community = Community(app, options.seed)
        registry = ModelRegistry(app.database)
        comparisons: dict[str, Comparison] = {}
        for number, method in enumerate(data.exports):
            stage(f"{clicks} arm: fine-tuning with {method}")
            # On the engine's own thread: torch on a CPU slows down by half for as long as two
            # threads of a process use it.
            trained = await engine.run_on_engine_thread(
                partial(
                    fine_tune,
                    preference_options(
                        options,
                        method,
                        positive_labels=data.curation.positive_labels,
                        negative_labels=data.curation.negative_labels,
                    ),
                    str(data.exports[method]),
                    folder / "adapters" / method,
                    settings=arm_settings,
                    progress=False,
                )
            )
            await registry.add(method, arm_settings.model, trained.adapter)
            await registry.serve(method, against=base)
            stage(f"{clicks} arm: blind comparison of {method} with the base")
            # Fresh prompts for every comparison: the taste must carry over to new prompts.
            shown = await community.compare(
                panel,
                prompts(options.seed + 1000 * (number + 1), taste.leaves_open),
                options.comparison_grids_per_person,
            )
            votes = (await registry.report()).votes_between(method, base)
            comparisons[method] = Comparison(
                method=method,
                votes=votes,
                taste_base=fmean(taste(p) for p in shown.get(base, [])),
                taste_tuned=fmean(taste(p) for p in shown.get(method, [])),
                training=trained,
            )
        await registry.serve(base)
    return ArmResult(folder, data, comparisons)


def _service_chance(
    options: LoopOptions, clicks: Literal["taste", "random"], stage: str
) -> random.Random:
    """Where the job service draws re-rolls' seeds and blind layouts from in one stage of an
    arm: seeded, so that a seed runs the same demo every time (the same clicks, data, adapters
    and votes) and a benchmark that collects with the demo's options trains on the demo's data."""
    return random.Random(f"loop-demo-service-{options.seed}-{clicks}-{stage}")


def arm_settings_for(settings: Settings, folder: Path, steps: int) -> Settings:
    """The operator's settings, but a database and image store of the arm's own: the demo
    never writes into the bot's data."""
    return settings.model_copy(
        update={
            "data_dir": folder,
            "database_url": "",
            "default_steps": steps,
            "max_steps": max(steps, settings.max_steps),
            "banned_words": [],
        }
    )


def preference_options(
    options: LoopOptions, method: Method, *, positive_labels: int, negative_labels: int
) -> TrainingOptions:
    """How the demo fine-tunes with `method` on data whose KTO labels number as given."""
    return preference_training(
        options.training,
        method,
        positive_labels=positive_labels,
        negative_labels=negative_labels,
        seed=options.seed,
    )


async def _export(app: App, folder: Path, method: Method) -> Path:
    layout = "pairs" if method == "dpo" else "kto"
    out = folder / "exports" / layout
    try:
        await export_from_database(
            app.database,
            FORMATS[layout],
            out,
            read_png=app.store.read,
            # Pseudonyms of simulated people: a fresh key, thrown away with the demo.
            secret=secrets.token_hex(32),
        )
    except ExportError as error:
        # People who never once got what they hoped for leave nothing to learn from (a model
        # that draws noise, say); the run so far stays in its folder to look at.
        raise UserError(f"{method} has nothing to train on in {folder}: {error}") from None
    return out


@contextlib.asynccontextmanager
async def demo_engine(settings: Settings) -> AsyncIterator[LocalEngine]:
    """One engine for both arms: the model is loaded once."""
    engine = local_engine(settings)
    try:
        yield engine
    finally:
        await engine.close()
