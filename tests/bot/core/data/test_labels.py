"""Preference rows derived from real histories: clicks, reactions and /rate answers made through
the job service, read back with iter_rankings, checked against the rules in
docs/preferences.md."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.jobs.edits import EditRequest
from bot.core.jobs.job_view import JobView
from bot.core.people.rating import Choice
from storage.labels.derive import labels_of, pairs_of
from storage.labels.load import iter_rankings
from storage.labels.rows import GridRanking, ImageLabel, PreferencePair, Source
from storage.models import Event, User

pytestmark = pytest.mark.asyncio


async def make(app: App, job: JobView) -> JobView:
    await app.runner.run(job.job_id)
    return await app.service.show(job.job_id)


async def grid_of(app: App, actor: Actor, prompt: str = "a red circle --seed 1") -> JobView:
    return await make(app, await app.service.imagine(actor, prompt))


async def rankings(app: App, batch: int = 200) -> list[GridRanking]:
    return [ranking async for ranking in iter_rankings(app.database, batch=batch)]


async def ranking_of(app: App, grid: JobView) -> GridRanking:
    found = [r for r in await rankings(app) if r.ranking_id == grid.job_id]
    assert len(found) == 1
    return found[0]


async def user_id(app: App, actor: Actor) -> int:
    async with app.database.sessions() as session:
        query = select(User.id).where(User.local_name == actor.local_name)
        return (await session.execute(query)).scalar_one()


async def all_events(app: App) -> dict[int, Event]:
    async with app.database.sessions() as session:
        rows = (await session.execute(select(Event))).scalars().all()
        return {event.id: event for event in rows}


def pairs_by(pairs: list[PreferencePair], user: int) -> set[tuple[int, int, Source]]:
    return {(p.winner.position, p.loser.position, p.source) for p in pairs if p.user_id == user}


def labels_by(labels: list[ImageLabel], user: int) -> dict[str, tuple[bool, Source]]:
    return {
        lab.image.public_id: (lab.positive, lab.source) for lab in labels if lab.user_id == user
    }


async def derived(app: App, grid: JobView) -> tuple[list[PreferencePair], list[ImageLabel]]:
    """The grid's pairs and labels, after checking that each names real events of its person."""
    ranking = await ranking_of(app, grid)
    pairs, labels = pairs_of(ranking), labels_of(ranking)
    events = await all_events(app)
    in_ranking = {action.event_id for action in ranking.actions}
    for row in (*pairs, *labels):
        assert row.event_ids, row
        assert list(row.event_ids) == sorted(set(row.event_ids))
        assert set(row.event_ids) <= in_ranking
        assert all(events[i].user_id == row.user_id for i in row.event_ids)
    return pairs, labels


async def test_a_u_click_makes_its_image_beat_the_other_three(
    app: App, alice: Actor, bob: Actor
) -> None:
    grid = await grid_of(app, alice)
    upscale = await make(app, await app.service.upscale(bob, grid.job_id, 2))
    bob_id = await user_id(app, bob)

    pairs, labels = await derived(app, grid)

    assert pairs_by(pairs, bob_id) == {
        (1, 0, Source.UPSCALE),
        (1, 2, Source.UPSCALE),
        (1, 3, Source.UPSCALE),
    }
    assert {p.ranking_id for p in pairs} == {f"{grid.job_id}:{bob_id}"}
    assert all(not p.tie and p.caption == "a red circle" for p in pairs)
    click = next(iter(await all_events(app)))
    assert all(p.event_ids == (click,) for p in pairs)
    assert labels_by(labels, bob_id) == {
        grid.images[0].id: (False, Source.NOT_CHOSEN),
        grid.images[1].id: (True, Source.UPSCALE),
        grid.images[2].id: (False, Source.NOT_CHOSEN),
        grid.images[3].id: (False, Source.NOT_CHOSEN),
    }
    ranking = await ranking_of(app, grid)
    assert [image.public_id for image in ranking.images] == [i.id for i in grid.images]
    assert ranking.images[1].model_version == grid.model
    assert ranking.images[1].parameters == grid.parameters.stored()
    assert [u.public_id for u in ranking.upscales] == [upscale.images[0].id]
    (action,) = ranking.actions
    assert (action.kind, action.position, action.result_job_public_id) == (
        "upscale",
        1,
        upscale.job_id,
    )
    # The upscale is no grid: it has no ranking of its own.
    assert [r.ranking_id for r in await rankings(app)] == [grid.job_id]


async def test_several_u_clicks_each_beat_each_unclicked_image_but_not_each_other(
    app: App, alice: Actor
) -> None:
    grid = await grid_of(app, alice)
    await app.service.upscale(alice, grid.job_id, 1)
    await app.service.upscale(alice, grid.job_id, 4)
    me = await user_id(app, alice)

    pairs, labels = await derived(app, grid)

    assert pairs_by(pairs, me) == {
        (0, 1, Source.UPSCALE),
        (0, 2, Source.UPSCALE),
        (3, 1, Source.UPSCALE),
        (3, 2, Source.UPSCALE),
    }
    assert len(pairs) == 4
    assert {p.ranking_id for p in pairs} == {f"{grid.job_id}:{me}"}
    assert [lab.positive for lab in labels] == [True, False, False, True]


async def test_a_reroll_makes_four_negatives_and_no_pairs(app: App, alice: Actor) -> None:
    grid = await grid_of(app, alice)
    again = await make(app, await app.service.reroll(alice, grid.job_id))
    me = await user_id(app, alice)

    pairs, labels = await derived(app, grid)

    assert pairs == []
    assert labels_by(labels, me) == {image.id: (False, Source.REROLL) for image in grid.images}
    (reroll,) = (await ranking_of(app, grid)).actions
    assert (reroll.kind, reroll.position, reroll.result_job_public_id) == (
        "reroll",
        None,
        again.job_id,
    )
    assert all(lab.event_ids == (reroll.event_id,) for lab in labels)
    # The new grid has nothing done to it yet.
    assert [r.ranking_id for r in await rankings(app)] == [grid.job_id]


async def test_a_v_click_is_one_weak_positive_tagged_variation(
    app: App, alice: Actor, bob: Actor
) -> None:
    grid = await grid_of(app, alice)
    variation = await make(app, await app.service.vary(bob, grid.job_id, 3, strong=False))
    bob_id = await user_id(app, bob)

    pairs, labels = await derived(app, grid)

    assert pairs == []
    assert labels_by(labels, bob_id) == {grid.images[2].id: (True, Source.VARIATION)}
    (action,) = (await ranking_of(app, grid)).actions
    assert (action.kind, action.result_job_public_id) == ("vary_subtle", variation.job_id)


async def test_an_edit_of_an_upscale_is_a_weak_positive_tagged_edit(
    app: App, alice: Actor, bob: Actor
) -> None:
    grid = await grid_of(app, alice)
    upscale = await make(app, await app.service.upscale(bob, grid.job_id, 2))
    zoomed = await make(
        app, await app.service.edit(bob, upscale.job_id, 1, EditRequest("zoom_out", zoom=2.0))
    )
    bob_id = await user_id(app, bob)

    pairs, labels = await derived(app, grid)

    # Bob's U-click chose picture 2 (pairs over the three others); the zoom on its upscale is
    # a weak positive for the upscale itself, as a V-click there would be.
    assert pairs_by(pairs, bob_id) == {
        (1, 0, Source.UPSCALE),
        (1, 2, Source.UPSCALE),
        (1, 3, Source.UPSCALE),
    }
    assert labels_by(labels, bob_id)[upscale.images[0].id] == (True, Source.EDIT)
    kinds = [(a.kind, a.result_job_public_id) for a in (await ranking_of(app, grid)).actions]
    assert ("zoom_out", zoomed.job_id) in kinds


async def test_a_v_click_beside_a_u_click_is_neither_winner_nor_loser(
    app: App, alice: Actor
) -> None:
    grid = await grid_of(app, alice)
    await app.service.upscale(alice, grid.job_id, 1)
    await app.service.vary(alice, grid.job_id, 2, strong=True)
    me = await user_id(app, alice)

    pairs, labels = await derived(app, grid)

    assert pairs_by(pairs, me) == {(0, 2, Source.UPSCALE), (0, 3, Source.UPSCALE)}
    assert [(lab.positive, lab.source) for lab in labels] == [
        (True, Source.UPSCALE),
        (True, Source.VARIATION),
        (False, Source.NOT_CHOSEN),
        (False, Source.NOT_CHOSEN),
    ]


async def test_a_reaction_on_an_upscale_labels_it_and_outranks_the_click(
    app: App, alice: Actor, bob: Actor
) -> None:
    grid = await grid_of(app, alice)
    upscale = await make(app, await app.service.upscale(bob, grid.job_id, 2))
    picture = upscale.images[0].id
    await app.service.react(bob, picture, "❤️")
    # Alice made no choice on the grid: her 👎 labels the pictures, but gives no pairs.
    await app.service.react(alice, picture, "👎")
    bob_id, alice_id = await user_id(app, bob), await user_id(app, alice)

    pairs, labels = await derived(app, grid)

    assert pairs_by(pairs, bob_id) == {
        (1, 0, Source.REACTION),
        (1, 2, Source.REACTION),
        (1, 3, Source.REACTION),
    }
    assert pairs_by(pairs, alice_id) == set()
    assert labels_by(labels, bob_id) == {
        grid.images[0].id: (False, Source.NOT_CHOSEN),
        grid.images[1].id: (True, Source.REACTION),
        grid.images[2].id: (False, Source.NOT_CHOSEN),
        grid.images[3].id: (False, Source.NOT_CHOSEN),
        picture: (True, Source.REACTION),
    }
    assert labels_by(labels, alice_id) == {
        grid.images[1].id: (False, Source.REACTION),
        picture: (False, Source.REACTION),
    }
    ranking = await ranking_of(app, grid)
    reactions = [a for a in ranking.actions if a.kind in ("favorite", "dislike")]
    assert [(a.position, a.upscale_image_id) for a in reactions] == [
        (1, ranking.upscales[0].image_id)
    ] * 2
    # The label of the grid image names both the U-click and the reaction that overrode it.
    bob_label = next(
        lab for lab in labels if lab.user_id == bob_id and lab.image.public_id == grid.images[1].id
    )
    assert bob_label.event_ids == tuple(a.event_id for a in ranking.actions[:2])


async def test_a_change_of_mind_the_latest_reaction_wins(app: App, alice: Actor) -> None:
    grid = await grid_of(app, alice)
    await app.service.upscale(alice, grid.job_id, 1)
    second = await make(app, await app.service.upscale(alice, grid.job_id, 2))
    me = await user_id(app, alice)

    await app.service.react(alice, second.images[0].id, "👎")
    pairs, labels = await derived(app, grid)
    # The disliked choice loses its wins and now loses to the other choice.
    assert pairs_by(pairs, me) == {
        (0, 1, Source.REACTION),
        (0, 2, Source.UPSCALE),
        (0, 3, Source.UPSCALE),
    }
    assert labels_by(labels, me)[grid.images[1].id] == (False, Source.REACTION)
    assert labels_by(labels, me)[second.images[0].id] == (False, Source.REACTION)

    await app.service.react(alice, second.images[0].id, "⭐")
    pairs, labels = await derived(app, grid)
    assert pairs_by(pairs, me) == {
        (0, 2, Source.UPSCALE),
        (0, 3, Source.UPSCALE),
        (1, 2, Source.REACTION),
        (1, 3, Source.REACTION),
    }
    assert labels_by(labels, me)[grid.images[1].id] == (True, Source.REACTION)
    assert labels_by(labels, me)[second.images[0].id] == (True, Source.REACTION)


async def test_an_explicit_reaction_outranks_a_later_click(app: App, alice: Actor) -> None:
    grid = await grid_of(app, alice)
    await app.service.react(alice, grid.images[0].id, "👎")
    await app.service.upscale(alice, grid.job_id, 1)
    me = await user_id(app, alice)

    pairs, labels = await derived(app, grid)

    # Her only choice she called bad: nothing is left to win.
    assert pairs == []
    assert labels_by(labels, me) == {
        grid.images[0].id: (False, Source.REACTION),
        grid.images[1].id: (False, Source.NOT_CHOSEN),
        grid.images[2].id: (False, Source.NOT_CHOSEN),
        grid.images[3].id: (False, Source.NOT_CHOSEN),
    }


async def test_a_reaction_on_a_whole_grid_is_kept_but_yields_no_rows(
    app: App, alice: Actor, bob: Actor
) -> None:
    grid = await grid_of(app, alice)
    await app.service.react_to_grid(bob, grid.job_id, "👍")

    pairs, labels = await derived(app, grid)

    assert (pairs, labels) == ([], [])
    (action,) = (await ranking_of(app, grid)).actions
    assert (action.kind, action.position, action.upscale_image_id) == ("like", None, None)


async def test_two_people_on_one_grid_are_two_rankings(app: App, alice: Actor, bob: Actor) -> None:
    grid = await grid_of(app, alice)
    await app.service.upscale(alice, grid.job_id, 1)
    await app.service.upscale(bob, grid.job_id, 4)
    alice_id, bob_id = await user_id(app, alice), await user_id(app, bob)

    pairs, labels = await derived(app, grid)

    assert pairs_by(pairs, alice_id) == {(0, n, Source.UPSCALE) for n in (1, 2, 3)}
    assert pairs_by(pairs, bob_id) == {(3, n, Source.UPSCALE) for n in (0, 1, 2)}
    assert {p.ranking_id for p in pairs if p.user_id == alice_id} == {f"{grid.job_id}:{alice_id}"}
    assert {p.ranking_id for p in pairs if p.user_id == bob_id} == {f"{grid.job_id}:{bob_id}"}
    assert len(labels) == 8


async def test_rate_answers_are_direct_pairs_ties_apart_skips_nothing(
    app: App, alice: Actor, bob: Actor
) -> None:
    first = await grid_of(app, alice, "a red circle --seed 1")
    second = await grid_of(app, alice, "a red circle --seed 100")
    a, b = first.images, second.images
    await app.rating.record(bob, a[0].id, b[1].id, Choice.LEFT)
    await app.rating.record(bob, a[1].id, a[2].id, Choice.RIGHT)
    await app.rating.record(bob, b[2].id, a[3].id, Choice.TIE)
    await app.rating.record(bob, a[0].id, a[1].id, Choice.SKIP)
    bob_id = await user_id(app, bob)
    events = sorted(await all_events(app))

    first_pairs, first_labels = await derived(app, first)
    second_pairs, second_labels = await derived(app, second)

    assert (first_labels, second_labels) == ([], [])
    assert [
        (p.ranking_id, p.winner.public_id, p.loser.public_id, p.tie, p.source, p.event_ids)
        for p in first_pairs
    ] == [
        (f"rate:{events[0]}", a[0].id, b[1].id, False, Source.RATING, (events[0],)),
        (f"rate:{events[1]}", a[2].id, a[1].id, False, Source.RATING, (events[1],)),
    ]
    assert [
        (p.ranking_id, p.winner.public_id, p.loser.public_id, p.tie, p.source) for p in second_pairs
    ] == [(f"rate:{events[2]}", b[2].id, a[3].id, True, Source.RATING)]
    assert all(p.user_id == bob_id for p in (*first_pairs, *second_pairs))
    assert [i.public_id for i in (await ranking_of(app, first)).compared_with] == [b[1].id]
    assert [i.public_id for i in (await ranking_of(app, second)).compared_with] == [a[3].id]


async def test_a_rate_answer_replaces_the_pair_clicks_would_give(app: App, alice: Actor) -> None:
    grid = await grid_of(app, alice)
    await app.service.upscale(alice, grid.job_id, 1)
    await app.rating.record(alice, grid.images[3].id, grid.images[0].id, Choice.LEFT)
    me = await user_id(app, alice)

    pairs, _ = await derived(app, grid)

    assert pairs_by(pairs, me) == {
        (0, 1, Source.UPSCALE),
        (0, 2, Source.UPSCALE),
        (3, 0, Source.RATING),
    }


async def test_rankings_come_in_job_order_whatever_the_batch(
    app: App, alice: Actor, bob: Actor
) -> None:
    grids = [await grid_of(app, alice, f"a shape number {n} --seed {n}") for n in range(4)]
    await app.service.react_to_grid(bob, grids[3].job_id, "👍")
    await app.service.upscale(bob, grids[0].job_id, 3)
    await app.service.reroll(alice, grids[2].job_id)
    # grids[1] has nothing done to it.

    whole = await rankings(app)
    assert [r.ranking_id for r in whole] == [grids[n].job_id for n in (0, 2, 3)]
    assert await rankings(app, batch=1) == whole
    assert await rankings(app, batch=2) == whole
    assert await rankings(app) == whole
