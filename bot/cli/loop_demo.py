"""``pickloop loop-demo``: the feedback loop, end to end, with simulated people."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError

from bot.cli.common import fail, read_settings, stderr
from bot.cli.training_flags import training_flags
from bot.core.errors import UserError
from bot.lab.loop.options import LoopOptions
from bot.lab.loop.personal_options import PersonalOptions
from engine.train.options import TrainingOptions, options_problem

T = TypeVar("T")
Stage = Callable[[str], None]

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.lab.loop.demo import LoopResult
    from bot.lab.loop.personal import PersonalResult
    from engine import LocalEngine


# The options' own defaults: one place says what the demo does when it is not told.
DEFAULTS = LoopOptions()
PERSONAL = PersonalOptions()
# The flags of LoopOptions' own fields, to name them in a refusal.
_FLAGS = {
    "taste": "--taste",
    "people": "--people",
    "grids_per_person": "--grids",
    "people_per_group": "--people",
    "train_steps": "--profile-train-steps",
    "profile_min_signals": "--min-signals",
    "comparison_grids_per_person": "--comparison-grids",
    "steps": "--steps",
    "seed": "--seed",
    "methods": "--method",
    "method": "--method",
}


@training_flags(
    DEFAULTS.training,
    skip=("method", "seed", "validate_every", "checkpoint_every"),
    renamed={"steps": "--train-steps"},
    helps={
        "steps": "Fine-tuning steps per method.",
        "batch_size": "Pictures a training step sees (DPO: half as many pairs).",
    },
)
def loop_demo(
    training: TrainingOptions,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="A new folder for the demo's databases, exports and adapters "
            "(default: a new one under PICKLOOP_DATA_DIR/loop-demo/).",
        ),
    ] = None,
    taste: Annotated[
        str,
        typer.Option(
            "--taste", help="The simulated people's hidden taste: larger, smaller or redder."
        ),
    ] = DEFAULTS.taste,
    people: Annotated[
        int | None,
        typer.Option(
            "--people",
            min=1,
            help=f"Simulated people (default {DEFAULTS.people}; --personal: "
            f"{PERSONAL.people_per_group} per group).",
        ),
    ] = None,
    grids: Annotated[
        int | None,
        typer.Option(
            "--grids",
            min=1,
            help=f"Prompts each person imagines for the data (default "
            f"{DEFAULTS.grids_per_person}; --personal: {PERSONAL.grids_per_person}).",
        ),
    ] = None,
    comparison_grids: Annotated[
        int | None,
        typer.Option(
            "--comparison-grids",
            min=1,
            help=f"Prompts each person imagines per blind comparison (default "
            f"{DEFAULTS.comparison_grids_per_person}; --personal: "
            f"{PERSONAL.comparison_grids_per_person}).",
        ),
    ] = None,
    steps: Annotated[
        int, typer.Option("--steps", min=1, help="Denoising steps a grid.")
    ] = DEFAULTS.steps,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help=LoopOptions.model_fields["seed"].description)
    ] = DEFAULTS.seed,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            help="dpo and/or kto (repeat it); the first one is headlined. --personal: how the "
            f"flywheel trains each profile (one; default {PERSONAL.method}).",
        ),
    ] = None,
    control: Annotated[
        bool, typer.Option("--control/--no-control", help="Also run the random-click control.")
    ] = True,
    personal: Annotated[
        bool,
        typer.Option(
            "--personal",
            help="Two groups with opposite tastes and a random-click control on one server; the "
            "flywheel trains, tests and promotes each person's profile and the server's by "
            "itself; blind panels then judge each group's own profiles, the other group's and "
            "the community's (--people is per group; the training flags do not apply: "
            "--profile-train-steps and --min-signals do).",
        ),
    ] = False,
    profile_train_steps: Annotated[
        int | None,
        typer.Option(
            "--profile-train-steps",
            min=1,
            help=f"--personal: training steps of each profile (default {PERSONAL.train_steps}).",
        ),
    ] = None,
    min_signals: Annotated[
        int | None,
        typer.Option(
            "--min-signals",
            min=1,
            help="--personal: signals a person gives before their profile is first trained "
            f"(default {PERSONAL.profile_min_signals}).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout.")
    ] = False,
) -> None:
    """Simulated people with a hidden taste click grids; their clicks are curated, exported and
    fine-tuned on (DPO and KTO); the tuned model is served blind against the base; and their
    new clicks say whether they prefer it. A control whose people click at random must not."""

    settings = read_settings()
    if personal:
        chosen = PersonalChoices(
            people, grids, comparison_grids, profile_train_steps, min_signals, method
        )
        _personal(out, chosen, steps, seed, settings, as_json)
        return
    methods = tuple(dict.fromkeys(name.strip().lower() for name in (method or DEFAULTS.methods)))
    try:
        # Checked before anything is loaded or written.
        options = LoopOptions(
            taste=taste,
            people=people or DEFAULTS.people,
            grids_per_person=grids or DEFAULTS.grids_per_person,
            comparison_grids_per_person=comparison_grids or DEFAULTS.comparison_grids_per_person,
            steps=steps,
            training=training,
            seed=seed,
            methods=methods,
            control=control,
        )
    except ValidationError as error:
        fail(options_problem(error, _FLAGS), 2)
    folder = (out or settings.data_dir / "loop-demo" / _stamp()).resolve()

    async def demo(engine: LocalEngine, stage: Stage) -> LoopResult:
        from bot.lab.loop.demo import run_loop_demo

        return await run_loop_demo(options, folder, settings, engine, stage)

    result = _run(demo, settings, "loop-demo", as_json)
    if as_json:
        print(json.dumps(result.to_json()))
        return
    _print(result)


def _print(result: LoopResult) -> None:
    found = result.to_json()
    head = result.headline
    print(f"taste: {found['taste']}; data in {result.main.folder.parent}")
    print(
        f"taste score of the pictures: {found['taste_before']:.4f} (base) -> "
        f"{found['taste_after']:.4f} ({head.method})"
    )
    for arm in (result.main, result.control):
        if arm is None:
            continue
        data = arm.data
        who = "people with the taste" if data.clicks == "taste" else "people clicking at random"
        print(
            f"{data.clicks} arm ({who} made the data): {data.activity.grids} grids, "
            f"{data.activity.upscales} upscales, {data.activity.rerolls} re-rolls; "
            f"{data.curation.pairs} pairs"
        )
        for name, comparison in arm.comparisons.items():
            low, high = comparison.votes.interval() or (0.0, 1.0)
            print(
                f"  {name} over the base: {comparison.votes.rate or 0:.1%} of "
                f"{comparison.votes.votes} blind votes (95% CI {low:.1%} to {high:.1%}); "
                f"taste {comparison.taste_base:.4f} -> {comparison.taste_tuned:.4f}; "
                f"{comparison.training.seconds_per_step:.2f} s a training step"
            )
    print(f"{found['minutes']:.1f} minutes")


@dataclass(frozen=True)
class PersonalChoices:
    """The flags ``--personal`` reads, None where not given."""

    people: int | None
    grids: int | None
    comparison_grids: int | None
    train_steps: int | None
    min_signals: int | None
    methods: list[str] | None


def _personal(
    out: Path | None,
    chosen: PersonalChoices,
    steps: int,
    seed: int,
    settings: Settings,
    as_json: bool,
) -> None:
    """``loop-demo --personal``: the flywheel for each person, by itself."""
    try:
        options = PersonalOptions(
            people_per_group=chosen.people or PERSONAL.people_per_group,
            grids_per_person=chosen.grids or PERSONAL.grids_per_person,
            comparison_grids_per_person=(
                chosen.comparison_grids or PERSONAL.comparison_grids_per_person
            ),
            train_steps=chosen.train_steps or PERSONAL.train_steps,
            profile_min_signals=chosen.min_signals or PERSONAL.profile_min_signals,
            method=_one_method(chosen.methods),
            steps=steps,
            seed=seed,
        )
    except ValidationError as error:
        fail(options_problem(error, _FLAGS), 2)
    folder = (out or settings.data_dir / "loop-demo" / f"personal-{_stamp()}").resolve()

    async def demo(engine: LocalEngine, stage: Stage) -> PersonalResult:
        from bot.lab.loop.personal import run_personal_demo

        return await run_personal_demo(options, folder, settings, engine, stage)

    result = _run(demo, settings, "loop-demo --personal", as_json)
    found = result.to_json()
    if as_json:
        print(json.dumps(found))
        return
    print(f"data in {result.folder}")
    for group in found["groups"]:
        print(f"people who like things {group['taste']} ({group['people']}):")
        for name, label in (
            ("own_profile", "their own profiles"),
            ("other_profile", "the other group's profiles"),
            ("community", "the community profile"),
        ):
            low, high = group[f"{name}_win_rate_ci"]
            rate = group[f"{name}_win_rate"]
            shown = f"{rate:.1%}" if rate is not None else "no votes"
            print(
                f"  {label} over the base: {shown} of {group[f'{name}_votes']} blind votes "
                f"(95% CI {low:.1%} to {high:.1%})"
            )
    low, high = found["control_win_rate_ci"]
    rate = found["control_win_rate"]
    print(
        f"control (profiles of random clicks, judged by the first group): "
        f"{rate if rate is None else f'{rate:.1%}'} of {found['control_votes']} votes "
        f"(95% CI {low:.1%} to {high:.1%})"
    )
    print(
        f"the flywheel by itself: {found['promotions']} promotions, "
        f"{found['retirements']} retirements, {len(found['rounds'])} rounds"
    )
    if found["training_seconds"]["mean"] is not None:
        print(f"a profile trained in {found['training_seconds']['mean']:.0f} s on average")
    print(f"{found['minutes']:.1f} minutes")


def _one_method(methods: list[str] | None) -> str:
    """``--personal`` trains every profile one way: ``--method`` given once, or the default."""
    if not methods:
        return PERSONAL.method
    if len(methods) > 1:
        fail("--personal trains every profile one way: give --method once (kto or dpo)", 2)
    return methods[0].strip().lower()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _run(
    demo: Callable[[LocalEngine, Stage], Awaitable[T]], settings: Settings, name: str, quiet: bool
) -> T:
    """Run a demo on an engine of its own, telling its stages on a terminal; a refusal ends in
    one line."""
    import asyncio

    from bot.lab.loop.demo import demo_engine
    from engine.chatter import silence_library_progress

    show_stages = not quiet and sys.stderr.isatty()

    def stage(text: str) -> None:
        if show_stages:
            stderr.print(f"[bold]{name}[/] {text}")

    silence_library_progress()

    async def work() -> T:
        async with demo_engine(settings) as engine:
            return await demo(engine, stage)

    try:
        return asyncio.run(work())
    except UserError as error:
        fail(str(error), 2)
