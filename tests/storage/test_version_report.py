"""``models report``: direct votes between versions and per-image label rates, from events."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storage import (
    Database,
    Event,
    EventKind,
    Image,
    Job,
    JobKind,
    JobStatus,
    ModelVersion,
    Origin,
    User,
)
from storage.ids import new_public_id
from storage.labels.versions import version_report, vote_book
from storage.parameters import JobParameters


async def _rows(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


async def _grid(
    session: AsyncSession, owner: User, layout: list[ModelVersion], kind: JobKind = JobKind.IMAGINE
) -> list[Image]:
    job = Job(
        public_id=new_public_id(),
        owner_id=owner.id,
        kind=kind,
        prompt="a red circle",
        parameters=JobParameters(width=64, height=64, steps=2, guidance=7.5, count=4),
        base_seed=1,
        model_version_id=layout[0].id,
        origin=Origin.CLI,
        status=JobStatus.DONE,
    )
    await _rows(session, job)
    images = [
        Image(
            public_id=new_public_id(),
            job_id=job.id,
            position=position,
            seed=1 + position,
            model_version_id=version.id,
            sha256=f"{job.id:032x}{position:032x}",
            width=64,
            height=64,
        )
        for position, version in enumerate(layout)
    ]
    await _rows(session, *images)
    return images


def _event(user: User, kind: EventKind, image: Image, other: Image | None = None) -> Event:
    return Event(
        user_id=user.id,
        kind=kind,
        job_id=image.job_id,
        image_id=image.id,
        other_image_id=other.id if other else None,
        origin=Origin.CLI,
    )


async def test_votes_come_from_clicks_between_versions_and_ties_count_half(
    database: Database,
) -> None:
    async with database.sessions.begin() as session:
        base = ModelVersion(name="base", base_model="embedded")
        tuned = ModelVersion(name="tuned", base_model="embedded", lora_path="/a", lora_sha256="0")
        ann = User(local_name="ann", display_name="Ann")
        bob = User(local_name="bob", display_name="Bob")
        troll = User(local_name="troll", display_name="Troll", blocked=True)
        await _rows(session, base, tuned, ann, bob, troll)
        blind = await _grid(session, ann, [tuned, base, base, tuned])
        second = await _grid(session, bob, [base, tuned, tuned, base])
        plain = await _grid(session, ann, [base] * 4)
        await _rows(
            session,
            _event(ann, EventKind.UPSCALE, blind[0]),  # tuned beats base
            _event(ann, EventKind.UPSCALE, blind[0]),  # the same click again: no new vote
            _event(bob, EventKind.UPSCALE, blind[3]),  # another person: tuned again
            _event(bob, EventKind.UPSCALE, second[0]),  # base beats tuned
            _event(ann, EventKind.UPSCALE, plain[1]),  # one version only: no vote
            _event(ann, EventKind.RATE_RIGHT, blind[1], second[1]),  # right is tuned: a win
            _event(bob, EventKind.RATE_TIE, blind[0], plain[0]),  # half each
            _event(bob, EventKind.RATE_LEFT, blind[1], blind[2]),  # base against base: none
            _event(troll, EventKind.UPSCALE, second[3]),  # blocked: left out
            _event(ann, EventKind.LIKE, blind[0]),
            Event(user_id=bob.id, kind=EventKind.REROLL, job_id=plain[0].job_id, origin=Origin.CLI),
        )

    report = await version_report(database)

    [pair] = report.pairs
    assert (pair.first, pair.second) == ("tuned", "base")
    assert (pair.votes.wins, pair.votes.losses, pair.votes.ties) == (3, 1, 1)
    assert (pair.from_upscales, pair.from_ratings) == (3, 2)
    assert pair.votes.rate == pytest.approx(3.5 / 5)
    low, high = pair.to_json()["win_rate_ci"]
    assert low < 3.5 / 5 < high
    rates = {entry.version: entry for entry in report.versions}
    assert (rates["base"].images, rates["tuned"].images) == (8, 4)
    # tuned: blind[0] and blind[3] upscaled of its 4 pictures; base: second[0] and plain[1].
    assert rates["tuned"].rates["upscaled"] == pytest.approx(2 / 4)
    assert rates["base"].rates["upscaled"] == pytest.approx(2 / 8)
    assert rates["tuned"].rates["liked"] == pytest.approx(1 / 4)
    assert rates["base"].rates["rerolled"] == pytest.approx(4 / 8)
    assert rates["tuned"].rates["rerolled"] == 0


async def test_a_book_of_one_candidates_votes_reads_every_vote_on_it_and_no_other(
    database: Database,
) -> None:
    """What the flywheel judges a candidate by, read from the grids that can hold a vote on it
    only: the same votes as the whole record gives, a /rate answer from another grid included."""
    async with database.sessions.begin() as session:
        base = ModelVersion(name="base", base_model="embedded")
        candidate = ModelVersion(
            name="cand", base_model="embedded", lora_path="/c", lora_sha256="c"
        )
        other = ModelVersion(name="other", base_model="embedded", lora_path="/o", lora_sha256="o")
        ann = User(local_name="ann", display_name="Ann")
        await _rows(session, base, candidate, other, ann)
        blind = await _grid(session, ann, [candidate, base, base, candidate])
        plain = await _grid(session, ann, [base] * 4)
        elsewhere = await _grid(session, ann, [other, base, other, base])
        await _rows(
            session,
            _event(ann, EventKind.UPSCALE, blind[1]),  # base beats the candidate: one vote
            # On a grid of the base alone: the candidate's picture on the right wins.
            _event(ann, EventKind.RATE_RIGHT, plain[0], blind[0]),
            _event(ann, EventKind.UPSCALE, elsewhere[0]),  # another version's vote
        )
    candidate_id, other_id = candidate.id, other.id

    book = await vote_book(database, on={candidate_id})
    everything = await vote_book(database)

    votes = book.between("cand", "base")
    assert (votes.wins, votes.losses) == (1, 1)
    assert everything.between("cand", "base") == votes
    assert book.between("other", "base").votes == 0
    assert everything.between("other", "base").votes == 1
    assert (await vote_book(database, on={other_id})).between("cand", "base").votes == 0


async def test_no_votes_and_no_pictures_make_an_empty_report(database: Database) -> None:
    report = await version_report(database)

    assert report.to_json() == {"pairs": [], "versions": []}


async def test_the_report_reads_verdicts_as_the_exports_do(database: Database) -> None:
    """The latest reaction wins (👎 then ❤️ is liked, not also disliked), a reaction on an
    upscale is one on the grid picture it came from, a chosen picture later 👎'd is no vote,
    and ``people`` keeps only their votes."""
    async with database.sessions.begin() as session:
        base = ModelVersion(name="base", base_model="embedded")
        tuned = ModelVersion(name="tuned", base_model="embedded", lora_path="/a", lora_sha256="0")
        ann = User(local_name="ann", display_name="Ann")
        bob = User(local_name="bob", display_name="Bob")
        await _rows(session, base, tuned, ann, bob)
        grid = await _grid(session, ann, [tuned, base, base, tuned])
        other = await _grid(session, bob, [base, tuned, tuned, base])
        upscale = Job(
            public_id=new_public_id(),
            owner_id=ann.id,
            kind=JobKind.UPSCALE,
            parent_job_id=grid[1].job_id,
            parent_image_id=grid[1].id,
            prompt="a red circle",
            parameters=JobParameters(width=128, height=128, steps=2, guidance=7.5, count=1),
            base_seed=2,
            model_version_id=base.id,
            origin=Origin.CLI,
            status=JobStatus.DONE,
        )
        await _rows(session, upscale)
        upscaled = Image(
            public_id=new_public_id(),
            job_id=upscale.id,
            position=0,
            seed=2,
            model_version_id=base.id,
            sha256="f" * 64,
            width=128,
            height=128,
        )
        await _rows(session, upscaled)
        await _rows(
            session,
            _event(ann, EventKind.DISLIKE, grid[0]),
            _event(ann, EventKind.FAVORITE, grid[0]),  # the latest: liked only
            _event(ann, EventKind.UPSCALE, grid[1]),  # base chosen over tuned ...
            _event(ann, EventKind.DISLIKE, upscaled),  # ... until she 👎 its upscale
            _event(bob, EventKind.UPSCALE, other[1]),  # tuned beats base: bob's vote
        )

    everyone = await version_report(database)
    rates = {entry.version: entry.rates for entry in everyone.versions}
    assert rates["tuned"]["liked"] == pytest.approx(1 / 4)  # grid[0]
    assert rates["tuned"]["disliked"] == 0
    assert rates["base"]["disliked"] == pytest.approx(1 / 4)  # grid[1], through its upscale
    assert rates["base"]["upscaled"] == pytest.approx(1 / 4)
    # The picture Ann U-clicked ended 👎, so it won nothing; as in the pairs export, the one she
    # ❤️'d beat the base pictures she did not choose: one vote for tuned. Bob's is another.
    votes = everyone.votes_between("tuned", "base")
    assert (votes.wins, votes.losses) == (2, 0)
    assert everyone.votes_between("base", "tuned") == votes.reversed()

    only_bob = await version_report(database, people=[bob.id])
    assert only_bob.votes_between("tuned", "base").wins == 1
