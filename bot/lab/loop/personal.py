"""The loop that runs itself, for each person: ``pickloop loop-demo --personal``.

Two groups of simulated people with opposite tastes (by default: some like the things drawn
larger, the others smaller) and a control group who click at random use one server, through
the real job service, runner, engine and flywheel (``bot.core.loop.flywheel``). No operator
command is given: the demo only plays the people and the worker (it turns the flywheel after
every round and runs the jobs the flywheel queued, as ``pickloop worker`` would).

1. **Use.** Every round each person imagines a prompt that leaves the size of things unsaid,
   and upscales the picture they like best (or re-rolls, or reacts), as in ``loop-demo``, then
   answers a few ``/rate`` pairs (the ones the bot offers: a blind test's while their candidate
   is tested, otherwise two pictures of a prompt). Once a person has given enough signals, the
   flywheel exports their own signals, trains their profile's first candidate on them, and
   compares it blind with the base model in their own grids; their own votes promote or retire
   it. The server's community profile is trained from
   everyone's signals once enough came in, and judged by everyone's votes.
2. **The proof.** Blind panels, each person judging fresh grids of two pictures of a profile and
   two of the base model: their own profile; the profile of a person of the other group (shared
   with a ``--p`` code); the community profile. And the control: the profiles of the people who
   clicked at random, judged by people of the first group. Each U-click is one vote.

What should come out: each group's own profiles win most of its people's votes, the other
group's lose them, the community profile (opposite tastes averaged) wins little for anyone, and
the control stays within its interval of 50%.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

from PIL import Image as PILImage

from bot.config import Settings
from bot.core.app import App, open_app
from bot.core.errors import UserError
from bot.core.jobs.service import model_version_name
from bot.core.loop.flywheel import Flywheel, Happened
from bot.core.loop.history import RoundView, history
from bot.lab.loop.community import Activity, Chosen, Community
from bot.lab.loop.demo import arm_settings_for, prompts
from bot.lab.loop.people import SimulatedPerson
from bot.lab.loop.personal_options import PersonalOptions
from bot.lab.loop.taste import TASTES, Taste
from engine import LocalEngine
from storage.labels.winrate import WinRate

Stage = Callable[[str], None]


@dataclass
class _Tally:
    """Blind votes for one kind of profile over the base, and the taste of what each drew."""

    wins: int = 0
    losses: int = 0
    taste_profile: list[float] = field(default_factory=list)
    taste_base: list[float] = field(default_factory=list)

    @property
    def votes(self) -> WinRate:
        return WinRate(wins=self.wins, losses=self.losses)

    def to_json(self, name: str) -> dict[str, Any]:
        votes = self.votes
        return {
            f"{name}_win_rate": votes.rate,
            f"{name}_win_rate_ci": list(votes.interval() or (0.0, 1.0)),
            f"{name}_votes": votes.votes,
            f"{name}_taste": round(fmean(self.taste_profile), 4) if self.taste_profile else None,
        }


@dataclass(frozen=True)
class GroupResult:
    taste: Taste
    people: int
    own: _Tally
    other: _Tally
    community: _Tally

    def to_json(self) -> dict[str, Any]:
        base = self.own.taste_base + self.other.taste_base + self.community.taste_base
        return {
            "taste": self.taste.name,
            "people": self.people,
            **self.own.to_json("own_profile"),
            **self.other.to_json("other_profile"),
            **self.community.to_json("community"),
            "base_taste": round(fmean(base), 4) if base else None,
        }


@dataclass(frozen=True)
class PersonalResult:
    options: PersonalOptions
    folder: Path
    groups: list[GroupResult]
    control: _Tally
    rounds: list[RoundView]
    activity: Activity
    # Each profile's training, in seconds (the fine-tune jobs' own count), by round.
    training_seconds: dict[int, float]
    seconds: float

    @property
    def promotions(self) -> int:
        return sum(view.status == "promoted" for view in self.rounds)

    def to_json(self) -> dict[str, Any]:
        control = self.control.votes
        return {
            "groups": [group.to_json() for group in self.groups],
            "control_win_rate": control.rate,
            "control_win_rate_ci": list(control.interval() or (0.0, 1.0)),
            "control_votes": control.votes,
            "promotions": self.promotions,
            "retirements": sum(view.status == "retired" for view in self.rounds),
            "rounds": [view.to_json() for view in self.rounds],
            "training_seconds": {
                "each": self.training_seconds,
                "mean": round(fmean(self.training_seconds.values()), 1)
                if self.training_seconds
                else None,
            },
            "grids": self.activity.grids,
            "upscales": self.activity.upscales,
            "rerolls": self.activity.rerolls,
            "reactions": self.activity.reactions,
            "ratings": self.activity.ratings,
            "folder": str(self.folder),
            "minutes": round(self.seconds / 60, 2),
            "options": self.options.model_dump(mode="json"),
        }


async def run_personal_demo(
    options: PersonalOptions,
    folder: Path,
    settings: Settings,
    engine: LocalEngine,
    stage: Stage = lambda _: None,
) -> PersonalResult:
    """The whole demonstration, into ``folder`` (which must not hold an earlier one)."""
    if await asyncio.to_thread(lambda: folder.exists() and any(folder.iterdir())):
        raise UserError(f"{folder} is not empty; give the demo a new folder")
    clock = time.perf_counter()
    tastes = [TASTES[name] for name in options.tastes]
    groups = [
        [
            SimulatedPerson(f"{taste.name}-{i + 1}", taste, options.seed)
            for i in range(options.people_per_group)
        ]
        for taste in tastes
    ]
    control = [
        SimulatedPerson(f"random-{i + 1}", None, options.seed)
        for i in range(options.control_people)
    ]
    everyone = [*itertools.chain.from_iterable(groups), *control]
    server_settings = _server_settings(settings, folder, options, len(everyone))
    chance = random.Random(f"loop-demo-personal-service-{options.seed}")
    # The demo draws nothing while a profile trains: training on the engine's thread is faster.
    async with open_app(
        server_settings, engine=engine, chance=chance, training_thread=engine.run_on_engine_thread
    ) as app:
        server = _Server(app, Community(app, options.seed), engine, options.ratings_per_round)
        asked = prompts(options.seed, tastes[0].leaves_open)
        activity = Activity()
        for number in range(options.grids_per_person):
            stage(f"everyone uses the bot: round {number + 1} of {options.grids_per_person}")
            await server.round(everyone, asked, activity)
        for number in range(options.test_rounds):
            testing = await server.testing(everyone)
            if not testing:
                break
            stage(f"blind tests collect votes: round {number + 1} ({len(testing)} people)")
            await server.round(testing, asked, activity)
        profiles = await server.profiles(everyone)
        base = model_version_name(server_settings.model)
        fresh = prompts(options.seed + 1000, tastes[0].leaves_open)
        results = []
        for group, other, taste in (
            (groups[0], groups[1], tastes[0]),
            (groups[1], groups[0], tastes[1]),
        ):
            stage(f"the proof: the {taste.name} group's blind panels")
            own = {p.name: profiles.get(p.name) for p in group}
            # Each of them is given the profile of someone of the other group, by a share code.
            theirs = {p.name: profiles.get(other[i % len(other)].name) for i, p in enumerate(group)}
            together = {p.name: profiles.get(_SERVER) for p in group}
            results.append(
                GroupResult(
                    taste,
                    len(group),
                    await server.panel(group, fresh, options, base, own),
                    await server.panel(group, fresh, options, base, theirs),
                    await server.panel(group, fresh, options, base, together),
                )
            )
        stage("the proof: random clicks' profiles, judged by the first group")
        randoms = {
            p.name: profiles.get(control[i % len(control)].name) for i, p in enumerate(groups[0])
        }
        judged = await server.panel(groups[0], fresh, options, base, randoms)
        rounds = await history(app.database)
        training = await server.training_seconds(rounds)
    return PersonalResult(
        options, folder, results, judged, rounds, activity, training, time.perf_counter() - clock
    )


# The community profile, among the people's (``_Server.profiles``).
_SERVER = "server"


def _server_settings(
    settings: Settings, folder: Path, options: PersonalOptions, people: int
) -> Settings:
    """The demo server's settings: a database of its own, and the flywheel as the options say.
    The server's profile waits for about everyone's collection: a signal a grid each, and their
    /rate answers."""
    return arm_settings_for(settings, folder, options.steps).model_copy(
        update={
            "flywheel": True,
            "profile_min_signals": options.profile_min_signals,
            "flywheel_min_new_signals": people
            * options.grids_per_person
            * (1 + options.ratings_per_round),
            "flywheel_share": 1.0,
            "flywheel_min_votes": options.min_votes,
            "flywheel_method": options.method,
            "flywheel_train_steps": options.train_steps,
            "flywheel_train_batch": options.train_batch,
            "flywheel_extrapolate": options.extrapolate,
        }
    )


@dataclass
class _Server:
    """One pickloop as its people and its worker see it."""

    app: App
    community: Community
    engine: LocalEngine
    ratings_per_round: int
    happened: list[Happened] = field(default_factory=list)

    async def round(
        self, people: Sequence[SimulatedPerson], asked: Iterator[str], activity: Activity
    ) -> None:
        """Everyone uses the bot once and answers their /rate pairs; then the worker's turn."""
        await self.community.round(people, asked, activity, {})
        await self.community.rate(people, self.ratings_per_round, activity)
        await self.worker_turn()

    async def worker_turn(self) -> None:
        """What a worker does between grids: turn the flywheel, and run the jobs it queued
        (exports, fine-tunes) until it has nothing more to move on."""
        flywheel = Flywheel(self.app)
        while True:
            self.happened += await flywheel.turn()
            queued = [
                job
                for view in await history(self.app.database)
                for job in (view.export_job, view.fine_tune_job)
                if job is not None and (await self.app.service.show(job)).status == "queued"
            ]
            if not queued:
                return
            for job in queued:
                await self.app.runner.run(job)

    async def training_seconds(self, rounds: Sequence[RoundView]) -> dict[int, float]:
        seconds = {}
        for view in rounds:
            if view.fine_tune_job is not None:
                outcome = (await self.app.service.show(view.fine_tune_job)).outcome or {}
                if "seconds" in outcome:
                    seconds[view.id] = float(outcome["seconds"])
        return seconds

    async def testing(self, people: Sequence[SimulatedPerson]) -> list[SimulatedPerson]:
        """The people whose own candidate still collects votes."""
        collecting = {
            view.profile for view in await history(self.app.database) if view.status == "collecting"
        }
        return [person for person in people if person.name in collecting]

    async def profiles(self, people: Sequence[SimulatedPerson]) -> dict[str, str]:
        """Each person's newest candidate (promoted or not: the proof judges what was
        trained), and the server's, by the person's name (``_SERVER`` for the server's)."""
        found: dict[str, str] = {}
        for view in reversed(await history(self.app.database)):
            if view.candidate is not None:
                found[view.profile] = view.candidate
        names = {person.name for person in people} | {_SERVER}
        return {name: version for name, version in found.items() if name in names}

    async def panel(
        self,
        panel: Sequence[SimulatedPerson],
        asked: Iterator[str],
        options: PersonalOptions,
        base: str,
        profile_of: dict[str, str | None],
    ) -> _Tally:
        """Each person of the panel judges fresh blind grids of their profile in
        ``profile_of`` against the base; a U-click on one of the profile's pictures is a win."""
        judges = [person for person in panel if profile_of.get(person.name) is not None]
        tally = _Tally()
        if not judges:
            return tally
        shown: dict[str, list[PILImage.Image]] = {}

        def comparing(person: SimulatedPerson) -> tuple[str, str]:
            profile = profile_of[person.name]
            assert profile is not None
            return profile, base

        for _ in range(options.comparison_grids_per_person):
            chosen: list[Chosen] = await self.community.round(
                judges, asked, Activity(), shown, comparing
            )
            for pick in chosen:
                if pick.version == base:
                    tally.losses += 1
                else:
                    tally.wins += 1
        taste = judges[0].taste
        if taste is not None:
            for version, pictures in shown.items():
                scores = [taste(picture) for picture in pictures]
                (tally.taste_base if version == base else tally.taste_profile).extend(scores)
        return tally
