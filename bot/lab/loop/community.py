"""Simulated people using one pickloop together, through its job service: each round everyone
imagines a prompt, and the grids they wait for are drawn together (as the bot's scheduler lets
the engine draw grids that wait together in one pipeline call); then each person upscales the
picture they choose, or re-rolls once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from PIL import Image as PILImage

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.jobs.job_view import JobView
from bot.core.people.rating import Choice
from bot.lab.loop.people import Decision, Reroll, SimulatedPerson, Upscale
from storage.models import JobStatus

# For a person, the two versions their grid compares blind (a panel's), or None: the grid is
# drawn as the bot would draw it for them.
Comparing = Callable[[SimulatedPerson], tuple[str, str] | None]


@dataclass
class Activity:
    """What the people did while the data was collected."""

    grids: int = 0
    upscales: int = 0
    rerolls: int = 0
    reactions: int = 0
    ratings: int = 0


@dataclass(frozen=True)
class Chosen:
    """The picture a person upscaled in the end (after a re-roll, if they made one)."""

    person: SimulatedPerson
    grid: JobView
    index: int
    """1-based, as on the U1-U4 buttons."""

    @property
    def version(self) -> str:
        """The model version that drew it (the grid is shown to the operator, revealed)."""
        return self.grid.images[self.index - 1].model or ""


@dataclass(frozen=True)
class _Decided:
    """What one person did with a grid, and the job it queued (an upscale or a re-roll)."""

    person: SimulatedPerson
    grid: JobView
    pictures: list[PILImage.Image]
    decision: Decision
    queued: JobView


@dataclass
class Community:
    """People using one pickloop through its job service, all at the same time: each round,
    everyone imagines a prompt, and the grids they wait for run together (the engine draws
    grids that wait together in one pipeline call, as the bot's scheduler lets it)."""

    app: App
    seed: int
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"loop-demo-seeds-{self.seed}")

    async def collect(
        self, people: Sequence[SimulatedPerson], prompts: Iterator[str], grids_each: int
    ) -> Activity:
        activity = Activity()
        for _ in range(grids_each):
            await self.round(people, prompts, activity, {})
        return activity

    async def compare(
        self, panel: Sequence[SimulatedPerson], prompts: Iterator[str], grids_each: int
    ) -> dict[str, list[PILImage.Image]]:
        """The panel's grids and clicks while two versions serve; returns every grid picture
        by the version that drew it (what the operator's ``show`` reveals)."""
        shown: dict[str, list[PILImage.Image]] = {}
        for _ in range(grids_each):
            await self.round(panel, prompts, Activity(), shown)
        return shown

    async def round(
        self,
        people: Sequence[SimulatedPerson],
        prompts: Iterator[str],
        activity: Activity,
        shown: dict[str, list[PILImage.Image]],
        comparing: Comparing | None = None,
    ) -> list[Chosen]:
        """Everyone imagines one prompt and upscales the picture they choose, or re-rolls
        (once); returns what each upscaled in the end. Jobs are queued in the people's order
        and only then run together, so the job service draws re-roll seeds and blind layouts in
        the same order on every run. ``comparing``: the versions a person's grid compares blind
        (a panel's), instead of what the bot would draw for them."""
        queued = []
        for person in people:
            seed = self._rng.randrange(2**32)
            text = f"{next(prompts)} --seed {seed}"
            pair = comparing(person) if comparing is not None else None
            queued.append(await self.app.service.imagine(_actor(person), text, compare=pair))
        undecided = list(zip(people, await self._all_finished(queued), strict=True))
        chosen: list[Chosen] = []
        for may_reroll in (True, False):
            decided = []
            for person, grid in undecided:
                activity.grids += 1
                pictures = await self._pictures(grid, shown)
                decision = person.judge(pictures, may_reroll)
                queued_next = await self._act(person, grid, decision)
                decided.append(_Decided(person, grid, pictures, decision, queued_next))
            finished = await self._all_finished([d.queued for d in decided])
            undecided = []
            for done, job in zip(decided, finished, strict=True):
                if isinstance(done.decision, Reroll):
                    activity.rerolls += 1
                    undecided.append((done.person, job))
                    continue
                activity.upscales += 1
                chosen.append(Chosen(done.person, done.grid, done.decision.index))
                emoji = done.person.react(done.pictures[done.decision.index - 1])
                if emoji is not None:
                    activity.reactions += 1
                    picked = done.grid.images[done.decision.index - 1]
                    await self.app.service.react(_actor(done.person), picked.id, emoji)
        return chosen

    async def rate(
        self, people: Sequence[SimulatedPerson], pairs_each: int, activity: Activity
    ) -> None:
        """Each person answers up to ``pairs_each`` /rate pairs, the ones the bot offers them
        (a blind test's, or where their profile is least sure, or any two of one prompt)."""
        for person in people:
            for _ in range(pairs_each):
                pair = await self.app.rating.next_pair(_actor(person), self._rng)
                if pair is None:
                    break
                chose_left = person.prefer(_picture(pair.left.path), _picture(pair.right.path))
                choice = Choice.LEFT if chose_left else Choice.RIGHT
                await self.app.rating.record(_actor(person), pair.left.id, pair.right.id, choice)
                activity.ratings += 1

    async def _act(self, person: SimulatedPerson, grid: JobView, decision: Decision) -> JobView:
        """Queue the job a decision asks for: the upscale of the chosen picture, or a re-roll."""
        if isinstance(decision, Upscale):
            return await self.app.service.upscale(_actor(person), grid.job_id, decision.index)
        return await self.app.service.reroll(_actor(person), grid.job_id)

    async def _all_finished(self, queued: Sequence[JobView]) -> list[JobView]:
        return list(await asyncio.gather(*(self._finished(job) for job in queued)))

    async def _finished(self, queued: JobView) -> JobView:
        status = await self.app.runner.run(queued.job_id)
        if status is not JobStatus.DONE:
            view = await self.app.service.show(queued.job_id)
            raise RuntimeError(f"job {queued.job_id} {status.value}: {view.error}")
        return await self.app.service.show(queued.job_id, reveal=True)

    @staticmethod
    async def _pictures(
        grid: JobView, shown: dict[str, list[PILImage.Image]]
    ) -> list[PILImage.Image]:
        pictures = []
        for image in grid.images:
            picture = _picture(image.path)
            pictures.append(picture)
            shown.setdefault(image.model or "", []).append(picture)
        return pictures


def _picture(path: str) -> PILImage.Image:
    with PILImage.open(path) as opened:
        return opened.convert("RGB")


def _actor(person: SimulatedPerson) -> Actor:
    return Actor.local(person.name)
