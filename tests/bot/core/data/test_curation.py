"""Curation of real histories (clicks, reactions, /rate answers made through the services) and
``pickloop curate`` as an operator runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.moderation.banned_words import BannedWords
from bot.core.people.rating import Choice
from storage.labels.curate import Curation, CurationReport, curate, curated
from storage.labels.derive import labels_of, pairs_of
from storage.models import User
from tests.bot.cli.test_cli import cli_env, pickloop, produced
from tests.bot.core.data.test_labels import grid_of, rankings, user_id

__all__ = ["cli_env"]  # the fixture, shared with the other CLI tests

carol, dave = Actor.local("carol"), Actor.local("dave")


def removed(report: CurationReport, name: str) -> tuple[int, int, int, int | None]:
    (row,) = [r for r in report.removed if r.filter == name]
    return row.pairs, row.ties, row.labels, row.people


async def kept_people(app: App, options: Curation) -> set[int]:
    return {
        row.user_id
        async for kept in curated(app.database, options)
        for row in (*kept.pairs, *kept.labels)
    }


async def test_an_always_u1_clicker_goes_and_a_varied_one_stays(
    app: App, alice: Actor, bob: Actor
) -> None:
    grids = [await grid_of(app, alice, f"a shape number {n} --seed {n}") for n in range(4)]
    for n, grid in enumerate(grids):
        await app.service.upscale(alice, grid.job_id, 1)
        await app.service.upscale(bob, grid.job_id, n + 1)
    alice_id, bob_id = await user_id(app, alice), await user_id(app, bob)

    report = await curate(app.database, Curation(min_position_entropy=0.5))

    assert await kept_people(app, Curation(min_position_entropy=0.5)) == {bob_id}
    assert removed(report, "position_entropy") == (12, 0, 16, 1)
    assert (report.pairs, report.people, report.grids) == (12, 1, 4)
    assert report.click_positions == (1, 1, 1, 1)
    assert report.all_click_positions == (5, 1, 1, 1)
    assert await kept_people(app, Curation()) == {alice_id, bob_id}


async def test_opted_out_and_blocked_people_and_grids_are_always_left_out(
    app: App, alice: Actor, bob: Actor
) -> None:
    first = await grid_of(app, alice, "a red circle --seed 1")
    theirs = await grid_of(app, bob, "a blue square --seed 2")
    for person in (bob, carol, dave):
        await app.service.upscale(person, first.job_id, 1)
    await app.service.upscale(dave, theirs.job_id, 4)
    await app.privacy.set_consent(bob, opted_in=False)
    async with app.database.sessions.begin() as session:
        await session.execute(update(User).where(User.local_name == "carol").values(blocked=True))

    report = await curate(app.database, Curation())

    assert await kept_people(app, Curation()) == {await user_id(app, dave)}
    # bob's and carol's clicks on the first grid, and dave's on bob's grid.
    assert removed(report, "excluded") == (9, 0, 12, 2)
    assert (report.pairs, report.grids, report.prompts) == (3, 1, 1)
    kept = [c.ranking async for c in curated(app.database, Curation())]
    assert [r.ranking_id for r in kept] == [first.job_id]
    assert {a.user_id for a in kept[0].actions} == {await user_id(app, dave)}


async def test_few_signals_dates_and_model_versions(app: App, alice: Actor, bob: Actor) -> None:
    grid = await grid_of(app, alice)
    await app.service.upscale(bob, grid.job_id, 1)
    between = datetime.now(UTC)
    await app.service.upscale(dave, grid.job_id, 2)
    await app.service.react(dave, grid.images[2].id, "👍")
    bob_id, dave_id = await user_id(app, bob), await user_id(app, dave)

    few = await curate(app.database, Curation(min_signals_per_person=2))
    assert await kept_people(app, Curation(min_signals_per_person=2)) == {dave_id}
    assert removed(few, "min_signals") == (3, 0, 4, 1)
    assert await kept_people(app, Curation(min_signals_per_person=3)) == set()

    assert await kept_people(app, Curation(since=between)) == {dave_id}
    assert await kept_people(app, Curation(until=between)) == {bob_id}
    later = await curate(app.database, Curation(since=between + timedelta(hours=1)))
    assert (later.pairs, removed(later, "date_range")) == (0, (3 + 4, 0, 4 + 4, None))

    assert await kept_people(app, Curation(model_versions=frozenset({grid.model}))) == {
        bob_id,
        dave_id,
    }
    other = await curate(app.database, Curation(model_versions=frozenset({"another"})))
    assert (other.pairs, removed(other, "model_version")[:3]) == (0, (7, 0, 8))


async def test_prompts_with_a_banned_word_go(app: App, alice: Actor, bob: Actor) -> None:
    circle = await grid_of(app, alice, "a red circle --seed 1")
    square = await grid_of(app, alice, "a blue SQUARE --seed 2")
    await app.service.upscale(bob, circle.job_id, 1)
    await app.service.upscale(bob, square.job_id, 1)
    banned = BannedWords(["square"])

    report = await curate(
        app.database, Curation(banned_prompt=lambda text: banned.found_in(text) is not None)
    )

    assert (report.pairs, report.prompts, report.grids) == (3, 1, 1)
    assert removed(report, "banned_words") == (3, 0, 4, None)


async def test_a_picture_made_twice_is_labelled_once(app: App, alice: Actor, bob: Actor) -> None:
    # The same prompt and seed make the same four pictures again.
    first = await grid_of(app, alice, "a red circle --seed 1")
    again = await grid_of(app, alice, "a red circle --seed 1")
    await app.service.upscale(alice, first.job_id, 1)
    await app.service.upscale(bob, again.job_id, 2)
    made = await rankings(app)
    assert [i.sha256 for i in made[0].images] == [i.sha256 for i in made[1].images]

    report = await curate(app.database, Curation())
    everything = await curate(app.database, Curation(drop_duplicate_images=False))

    assert removed(report, "duplicate_images") == (0, 0, 4, None)
    assert (report.pairs, report.positive_labels, report.negative_labels) == (6, 1, 3)
    assert removed(everything, "duplicate_images") == (0, 0, 0, None)
    assert everything.positive_labels + everything.negative_labels == 8


async def test_agreement_between_people_who_judged_the_same_pictures(
    app: App, alice: Actor, bob: Actor
) -> None:
    agreed = await grid_of(app, alice, "a red circle --seed 1")
    split = await grid_of(app, alice, "a red circle --seed 2")
    await app.service.upscale(bob, agreed.job_id, 2)
    await app.service.upscale(dave, agreed.job_id, 2)
    await app.service.upscale(bob, split.job_id, 1)
    await app.service.upscale(dave, split.job_id, 3)
    # A /rate answer on two pictures of one grid meets the clicks on them: carol sides with dave.
    await app.rating.record(carol, split.images[2].id, split.images[0].id, Choice.LEFT)

    agreement = (await curate(app.database, Curation())).agreement

    # Three pairs both chose U2 in; bob (U1 over U3) against dave and carol (U3 over U1).
    assert (agreement.contested_pairs, agreement.judgements, agreement.with_majority) == (4, 9, 8)
    assert agreement.majority_share == pytest.approx(8 / 9)
    assert (agreement.people_pairs, agreement.people_pairs_agreeing) == (6, 4)


async def test_what_is_kept_and_removed_adds_up_to_what_was_derived(
    app: App, alice: Actor, bob: Actor
) -> None:
    one = await grid_of(app, alice, "a red circle --seed 1")
    two = await grid_of(app, bob, "a red circle --seed 2")
    await app.service.upscale(bob, one.job_id, 1)
    await app.service.vary(dave, one.job_id, 3, strong=False)
    await app.service.reroll(alice, two.job_id)
    await app.service.upscale(carol, two.job_id, 4)
    await app.service.react(carol, two.images[0].id, "👎")
    await app.rating.record(dave, one.images[1].id, two.images[2].id, Choice.TIE)
    await app.privacy.set_consent(carol, opted_in=False)
    everything = await rankings(app)
    pairs = [p for r in everything for p in pairs_of(r)]
    labels = [lab for r in everything for lab in labels_of(r)]

    report = await curate(app.database, Curation(min_signals_per_person=2))
    kept = [c async for c in curated(app.database, Curation(min_signals_per_person=2))]

    assert (report.derived_pairs, report.derived_labels) == (len(pairs), len(labels))
    assert report.pairs + sum(r.pairs for r in report.removed) == sum(not p.tie for p in pairs)
    assert report.ties + sum(r.ties for r in report.removed) == sum(p.tie for p in pairs)
    kept_labels = report.positive_labels + report.negative_labels
    assert kept_labels + sum(r.labels for r in report.removed) == len(labels)
    assert sum(len(c.pairs) for c in kept) == report.pairs + report.ties
    assert sum(len(c.labels) for c in kept) == kept_labels
    assert removed(report, "excluded")[3] == 1
    assert removed(report, "min_signals")[3] == 2  # bob: one click; alice: one re-roll


def test_curate_from_the_terminal(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = produced(capsys, "imagine", "a red circle --seed 1")
    produced(capsys, "upscale", grid["job_id"], "2", "--user", "bob")
    produced(capsys, "upscale", grid["job_id"], "2", "--user", "dave")
    produced(capsys, "upscale", grid["job_id"], "1", "--user", "erin")

    report = produced(capsys, "curate")
    assert report["derived"] == {"pairs": 9, "labels": 12}
    assert report["kept"] == {
        "pairs": 9,
        "ties": 0,
        "labels": {"positive": 3, "negative": 9},
        "prompts": 1,
        "people": 3,
        "grids": 1,
    }
    assert report["click_positions"] == {"1": 1, "2": 2, "3": 0, "4": 0}
    assert report["agreement"]["contested_pairs"] == 3
    assert report["agreement"]["majority_share"] == pytest.approx(6 / 7)
    assert report["removed"]["excluded"] == {"pairs": 0, "ties": 0, "labels": 0, "people": 0}
    assert report["options"]["drop_duplicate_images"] is True
    everything = produced(capsys, "curate", "--keep-duplicates", "--min-entropy", "1.5")
    assert everything["options"]["drop_duplicate_images"] is False
    assert everything["kept"]["pairs"] == 9  # one U-click each: too few to judge positions by

    later = produced(capsys, "curate", "--since", "2999-01-01", "--model", grid["model"])
    assert later["kept"]["pairs"] == 0
    assert later["removed"]["date_range"]["pairs"] == 9
    today = datetime.now(UTC).date().isoformat()
    assert produced(capsys, "curate", "--until", today)["kept"]["pairs"] == 9

    code, out, err = pickloop(capsys, "curate")
    assert code == 0 and err == ""
    assert "kept 9 pairs" in out and "removed by" in out and "duplicate_images" in out

    for bad, says in [
        (["--min-entropy", "3"], "--min-entropy"),
        (["--min-signals", "-1"], "--min-signals"),
        (["--since", "yesterday"], "not a date"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "before"),
        (["--model", "no-such-model"], "no model version no-such-model"),
    ]:
        code, out, err = pickloop(capsys, "curate", *bad)
        assert (code, out, err.count("\n")) == (2, "", 1), (bad, err)
        assert says in err

    monkeypatch.setenv("PICKLOOP_BANNED_WORDS", "Circle")
    banned = produced(capsys, "curate")
    assert banned["kept"]["pairs"] == 0
    assert banned["removed"]["banned_words"]["pairs"] == 9
