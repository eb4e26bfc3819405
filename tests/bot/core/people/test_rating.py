"""/rate's core: pairs of pictures of one prompt, each pair rated once per person."""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path
from statistics import fmean

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage
from sqlalchemy import select

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.errors import NotFound, UserError
from bot.core.jobs.job_view import JobView
from bot.core.people.rating import RATE_KINDS, Choice, Pair, best_unrated_pair
from storage.models import Event, EventKind, Image, Job, User

ALL_PAIRS_OF_A_GRID = 6  # four pictures: 4 * 3 / 2


async def finished(app: App, actor: Actor, prompt: str) -> JobView:
    queued = await app.service.imagine(actor, prompt)
    await app.runner.run(queued.job_id)
    return await app.service.show(queued.job_id)


async def rate_events(app: App) -> list[Event]:
    async with app.database.sessions() as session:
        query = select(Event).where(Event.kind.in_(RATE_KINDS)).order_by(Event.id)
        return list((await session.execute(query)).scalars().all())


async def prompt_of(app: App, image_id: str) -> str:
    async with app.database.sessions() as session:
        query = select(Job.prompt).join(Image, Image.job_id == Job.id)
        return (await session.execute(query.where(Image.public_id == image_id))).scalar_one()


async def rate_everything(app: App, actor: Actor) -> list[Pair]:
    """Rate (skip) pairs until there are none left; the pairs in the order they came."""
    shown: list[Pair] = []
    while (pair := await app.rating.next_pair(actor)) is not None:
        shown.append(pair)
        await app.rating.record(actor, pair.left.id, pair.right.id, Choice.SKIP)
        assert len(shown) <= 100, "pairs keep coming"
    return shown


async def test_a_pair_is_two_pictures_of_one_prompt(app: App, alice: Actor, bob: Actor) -> None:
    await finished(app, alice, "a red circle --seed 1")
    await finished(app, bob, "a red circle --seed 99")
    await finished(app, alice, "a green square --seed 5")

    for seed in range(10):
        pair = await app.rating.next_pair(alice, random.Random(seed))
        assert pair is not None
        assert pair.left.id != pair.right.id
        assert pair.left.sha256 != pair.right.sha256
        assert await prompt_of(app, pair.left.id) == pair.prompt
        assert await prompt_of(app, pair.right.id) == pair.prompt


async def test_nobody_is_shown_a_pair_twice_and_others_still_get_it(
    app: App, alice: Actor, bob: Actor
) -> None:
    grid = await finished(app, alice, "a red circle --seed 1")

    seen = await rate_everything(app, alice)

    assert len({frozenset((p.left.id, p.right.id)) for p in seen}) == ALL_PAIRS_OF_A_GRID
    assert len(seen) == ALL_PAIRS_OF_A_GRID
    assert {p.left.id for p in seen} | {p.right.id for p in seen} == {i.id for i in grid.images}
    assert await app.rating.next_pair(alice) is None
    assert await app.rating.next_pair(bob) is not None


async def test_a_new_grid_of_the_prompt_brings_new_pairs(app: App, alice: Actor) -> None:
    first = await finished(app, alice, "a red circle --seed 1")
    await rate_everything(app, alice)

    second = await finished(app, alice, "a red circle --seed 50")
    seen = await rate_everything(app, alice)

    # Each new picture against the other three new ones and the four old ones.
    assert len(seen) == 6 + 4 * 4
    new = {image.id for image in second.images}
    assert all(p.left.id in new or p.right.id in new for p in seen)
    assert {p.left.id for p in seen} | {p.right.id for p in seen} >= {i.id for i in first.images}


async def test_the_same_picture_made_twice_counts_once(app: App, alice: Actor) -> None:
    first = await finished(app, alice, "a red circle --seed 1")
    again = await finished(app, alice, "a red circle --seed 1")

    assert len(await rate_everything(app, alice)) == ALL_PAIRS_OF_A_GRID
    with pytest.raises(UserError, match="same picture"):
        await app.rating.record(alice, first.images[0].id, again.images[0].id, Choice.LEFT)


async def test_upscales_are_not_shown(app: App, alice: Actor) -> None:
    grid = await finished(app, alice, "a red circle --seed 1")
    upscale = await app.service.upscale(alice, grid.job_id, 2)
    await app.runner.run(upscale.job_id)
    upscaled = (await app.service.show(upscale.job_id)).images[0].id

    seen = await rate_everything(app, alice)

    assert len(seen) == ALL_PAIRS_OF_A_GRID
    assert all(upscaled not in (p.left.id, p.right.id) for p in seen)
    with pytest.raises(UserError, match="Upscales"):
        await app.rating.record(alice, upscaled, grid.images[0].id, Choice.LEFT)


async def test_no_finished_grid_no_pair(app: App, alice: Actor) -> None:
    assert await app.rating.next_pair(alice) is None
    await app.service.imagine(alice, "a red circle")  # queued, not made yet
    assert await app.rating.next_pair(alice) is None


async def test_each_choice_is_recorded_with_what_was_shown(app: App, alice: Actor) -> None:
    grid = await finished(app, alice, "a red circle --seed 1")
    shown = {Choice.LEFT: (3, 1), Choice.RIGHT: (0, 2), Choice.TIE: (1, 0), Choice.SKIP: (2, 3)}

    for choice, (left, right) in shown.items():
        rated = await app.rating.record(alice, grid.images[left].id, grid.images[right].id, choice)
        assert (rated.kind, rated.new) == (f"rate_{choice.value}", True)

    events = await rate_events(app)
    assert [event.kind for event in events] == [choice.event_kind for choice in shown]
    assert [(e.position, e.other_position) for e in events] == list(shown.values())
    async with app.database.sessions() as session:
        for event, (left, right) in zip(events, shown.values(), strict=True):
            user = await session.get_one(User, event.user_id)
            assert user.local_name == "alice"
            assert (await session.get_one(Image, event.image_id)).public_id == (
                grid.images[left].id
            )
            assert (await session.get_one(Image, event.other_image_id)).public_id == (
                grid.images[right].id
            )
            assert (await session.get_one(Job, event.job_id)).public_id == grid.job_id
            assert event.origin.value == "cli"


async def test_a_double_click_records_one_choice(app: App, alice: Actor, bob: Actor) -> None:
    grid = await finished(app, alice, "a red circle --seed 1")
    left, right = grid.images[0].id, grid.images[1].id

    await app.rating.record(alice, left, right, Choice.LEFT)
    again = await app.rating.record(alice, left, right, Choice.LEFT)
    swapped = await app.rating.record(alice, right, left, Choice.RIGHT)
    await app.rating.record(bob, right, left, Choice.TIE)
    # Two clicks arriving together: the second waits for the first, then leaves it be.
    both = await asyncio.gather(
        app.rating.record(alice, left, grid.images[2].id, Choice.RIGHT),
        app.rating.record(alice, left, grid.images[2].id, Choice.RIGHT),
    )

    assert (again.new, again.kind) == (False, "rate_left")
    assert swapped.new is False
    assert sorted(rated.new for rated in both) == [False, True]
    assert [e.kind for e in await rate_events(app)] == [
        EventKind.RATE_LEFT,
        EventKind.RATE_TIE,
        EventKind.RATE_RIGHT,
    ]


async def test_pairs_that_cannot_be_rated_are_refused(app: App, alice: Actor) -> None:
    red = await finished(app, alice, "a red circle --seed 1")
    green = await finished(app, alice, "a green square --seed 1")

    with pytest.raises(NotFound, match="nosuchimg"):
        await app.rating.record(alice, red.images[0].id, "nosuchimg", Choice.LEFT)
    with pytest.raises(UserError, match="different images"):
        await app.rating.record(alice, red.images[0].id, red.images[0].id, Choice.LEFT)
    with pytest.raises(UserError, match="different prompts"):
        await app.rating.record(alice, red.images[0].id, green.images[0].id, Choice.LEFT)
    assert await rate_events(app) == []


@given(
    pictures=st.lists(st.sampled_from("abcdefg"), max_size=12),
    rated=st.sets(st.frozensets(st.sampled_from("abcdefg"), min_size=2, max_size=2)),
    seed=st.integers(0, 2**32),
)
def test_best_unrated_pair_offers_the_cheapest_unrated_pair_of_different_pictures(
    pictures: list[str], rated: set[frozenset[str]], seed: int
) -> None:
    candidates = list(enumerate(pictures))  # several candidates may show one picture

    def cost(i: int, j: int) -> float:
        return abs(ord(pictures[i]) - ord(pictures[j]))

    pair = best_unrated_pair(candidates, lambda c: c[1], rated, random.Random(seed), cost)

    distinct = set(pictures)
    unrated = {frozenset((a, b)) for a in distinct for b in distinct if a != b} - rated
    if not unrated:
        assert pair is None
        return
    assert pair is not None
    (_, left), (_, right) = pair
    assert left != right
    assert frozenset((left, right)) in unrated
    assert abs(ord(left) - ord(right)) == min(abs(ord(a) - ord(b)) for a, b in map(sorted, unrated))


def _difference(one: Path, other: Path) -> float:
    """How different two pictures look: mean absolute difference of 16x16 thumbnails."""
    small = []
    for path in (one, other):
        with PILImage.open(path) as opened:
            small.append(np.asarray(opened.convert("RGB").resize((16, 16)), dtype=np.float64))
    return float(np.abs(small[0] - small[1]).mean())


async def test_without_a_profile_the_pictures_that_differ_most_come_first(
    app: App, alice: Actor
) -> None:
    # A prompt that leaves the size, colour and place open: its pictures differ a lot or little.
    grids = [await finished(app, alice, f"a circle --seed {seed}") for seed in (10, 20, 30)]
    paths = {image.sha256: Path(image.path) for grid in grids for image in grid.images}
    offered = []
    for turn in range(4):
        pair = await app.rating.next_pair(alice, random.Random(turn))
        assert pair is not None
        offered.append(_difference(Path(pair.left.path), Path(pair.right.path)))
        await app.rating.record(alice, pair.left.id, pair.right.id, Choice.SKIP)

    every = sorted(
        (_difference(paths[a], paths[b]) for a, b in itertools.combinations(sorted(paths), 2)),
        reverse=True,
    )
    # Of 66 pairs, the four offered first are among the most different (by a coarser measure
    # than the bot's), the most different of all among them.
    assert max(offered) == every[0]
    assert fmean(offered) >= fmean(every[: len(every) // 6]) > fmean(every)
