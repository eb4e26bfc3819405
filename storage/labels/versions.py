"""Which model version people prefer, from what they did: the report behind
``pickloop models report``.

Everything here is read from the preference pairs and per-person verdicts the exports are made
of (``storage.labels.derive``), so a report and a dataset never disagree on what someone meant:
the latest reaction wins (👎 then ❤️ is liked, not both), and a reaction on an upscale is one on
the grid picture it was made from.

Direct votes come from pictures of two versions shown side by side. In a grid that showed
pictures of two versions (a blind A/B grid), each picture a person chose (the pairs' winners: a
U-click, or a good reaction beside one) is one vote for its version over each other version
among the pictures it beat; a `/rate` pair between pictures of two versions is a vote too (a
tie counts half to each). Per-image rates say, for each version, how often its grid pictures
were upscaled, varied, liked, disliked or re-rolled, whether or not they were compared.

People who are blocked are left out, as they are from every export; ``people`` narrows a report
to some people's doings (a personal profile is judged by its owner's votes alone).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.labels.derive import (
    BUILT_ON,
    GOOD_REACTIONS,
    REROLL,
    UPSCALE,
    grid_verdicts,
    pairs_of,
)
from storage.labels.load import iter_rankings
from storage.labels.rows import Action, GridRanking, PreferencePair, Source
from storage.labels.winrate import WinRate
from storage.models import Image, Job, JobKind, ModelVersion, User

_GRID_KINDS = (JobKind.IMAGINE, JobKind.REROLL, JobKind.VARIATION)
# Where a vote came from: a choice in a grid (a U-click, or a reaction beside one), or /rate.
_FROM_GRIDS = frozenset({Source.UPSCALE, Source.REACTION})


@dataclass(frozen=True)
class PairReport:
    """Direct votes between two versions, from the first one's side (the newer of the two)."""

    first: str
    second: str
    votes: WinRate
    # Votes from choices in grids (U-clicks, reactions beside them) and from /rate answers.
    from_upscales: int
    from_ratings: int

    def to_json(self) -> dict[str, Any]:
        interval = self.votes.interval()
        return {
            "first": self.first,
            "second": self.second,
            "wins": self.votes.wins,
            "losses": self.votes.losses,
            "ties": self.votes.ties,
            "votes": self.votes.votes,
            "win_rate": self.votes.rate,
            "win_rate_ci": list(interval) if interval is not None else None,
            "from_upscales": self.from_upscales,
            "from_ratings": self.from_ratings,
        }


@dataclass(frozen=True)
class VersionRates:
    """How often a version's grid pictures got each kind of signal."""

    version: str
    images: int
    rates: dict[str, float]
    """upscaled, varied, liked, disliked and rerolled: fractions of `images`."""

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "images": self.images, **self.rates}


@dataclass(frozen=True)
class VersionReport:
    pairs: list[PairReport]
    versions: list[VersionRates]

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs": [pair.to_json() for pair in self.pairs],
            "versions": [rates.to_json() for rates in self.versions],
        }

    def votes_between(self, first: str, second: str) -> WinRate:
        """The votes between two versions from ``first``'s side (none: no votes yet)."""
        for pair in self.pairs:
            if (pair.first, pair.second) == (first, second):
                return pair.votes
            if (pair.first, pair.second) == (second, first):
                return pair.votes.reversed()
        return WinRate(wins=0, losses=0)


_LABELS = ("upscaled", "varied", "liked", "disliked", "rerolled")


@dataclass
class _Tally:
    """Votes between two versions, from the newer one's side, and where they came from."""

    wins: int = 0
    losses: int = 0
    ties: int = 0
    from_upscales: int = 0
    from_ratings: int = 0

    def add(self, newer_won: bool | None, *, from_rating: bool) -> None:
        """One vote: True a win for the newer version, False a loss, None a tie."""
        if newer_won is None:
            self.ties += 1
        elif newer_won:
            self.wins += 1
        else:
            self.losses += 1
        if from_rating:
            self.from_ratings += 1
        else:
            self.from_upscales += 1


class _Votes:
    """Every vote between versions, kept per person who cast it."""

    def __init__(self, ids: dict[str, int]) -> None:
        self._ids = ids
        self.tallies: dict[tuple[int, int, int], _Tally] = defaultdict(_Tally)

    def add_pairs(self, pairs: list[PreferencePair]) -> None:
        # A chosen picture is one vote over each other version it beat, however many of that
        # version's pictures it beat: keyed by the decision and the chosen picture.
        beaten: dict[tuple[str, int], tuple[int, str, set[str]]] = {}
        for pair in pairs:
            winner, loser = pair.winner.model_version, pair.loser.model_version
            if winner == loser:
                continue
            if pair.source is Source.RATING:
                self._add(pair.user_id, winner, loser, tie=pair.tie, from_rating=True)
            elif pair.source in _FROM_GRIDS:
                key = (pair.ranking_id, pair.winner.image_id)
                beaten.setdefault(key, (pair.user_id, winner, set()))[2].add(loser)
        for user_id, winner, losers in beaten.values():
            for loser in sorted(losers):
                self._add(user_id, winner, loser, tie=False, from_rating=False)

    def _add(self, user_id: int, winner: str, loser: str, *, tie: bool, from_rating: bool) -> None:
        won, lost = self._ids[winner], self._ids[loser]
        newer, older = max(won, lost), min(won, lost)
        self.tallies[user_id, newer, older].add(
            None if tie else won == newer, from_rating=from_rating
        )


@dataclass(frozen=True)
class VoteBook:
    """Every direct vote between versions and who cast it: what the flywheel judges
    candidates by (a personal candidate by its owner's votes alone)."""

    _names: dict[int, str]
    _tallies: dict[tuple[int, int, int], _Tally]

    def pairs(self, people: Collection[int] | None = None) -> list[PairReport]:
        """The votes between each two versions (by ``people``, or everyone's)."""
        summed: dict[tuple[int, int], _Tally] = defaultdict(_Tally)
        for (user_id, newer, older), tally in self._tallies.items():
            if people is None or user_id in people:
                total = summed[newer, older]
                for name in ("wins", "losses", "ties", "from_upscales", "from_ratings"):
                    setattr(total, name, getattr(total, name) + getattr(tally, name))
        return [
            PairReport(
                first=self._names[newer],
                second=self._names[older],
                votes=WinRate(wins=tally.wins, losses=tally.losses, ties=tally.ties),
                from_upscales=tally.from_upscales,
                from_ratings=tally.from_ratings,
            )
            for (newer, older), tally in sorted(summed.items())
        ]

    def between(self, first: str, second: str, people: Collection[int] | None = None) -> WinRate:
        """The votes between two versions from ``first``'s side."""
        return VersionReport(self.pairs(people), []).votes_between(first, second)


class _Labels:
    """Which grid pictures got each kind of signal, read from each person's verdicts."""

    def __init__(self) -> None:
        self.pictures: dict[str, set[int]] = {label: set() for label in _LABELS}

    def add(self, ranking: GridRanking) -> None:
        by_person: dict[int, list[Action]] = defaultdict(list)
        for action in ranking.actions:
            by_person[action.user_id].append(action)
        at = {image.position: image.image_id for image in ranking.images}
        for actions in by_person.values():
            for position, verdict in grid_verdicts(ranking, actions).items():
                if verdict.source is Source.REACTION:
                    liked = verdict.decided_by.kind in GOOD_REACTIONS
                    self.pictures["liked" if liked else "disliked"].add(at[position])
            for action in actions:
                if action.kind == REROLL:
                    self.pictures["rerolled"].update(at.values())
                if action.position not in at:
                    continue
                if action.kind == UPSCALE and action.upscale_image_id is None:
                    self.pictures["upscaled"].add(at[action.position])
                elif action.kind in BUILT_ON:
                    self.pictures["varied"].add(at[action.position])


async def version_report(
    database: Database, *, people: Collection[int] | None = None
) -> VersionReport:
    """What the report says of every version; with ``people``, of those people's doings only."""
    labels = _Labels()
    book = await _read(database, people, labels=labels)
    async with database.sessions() as session:
        shown = (
            await session.execute(
                select(Image.id, ModelVersion.name)
                .join(Job, Job.id == Image.job_id)
                .join(ModelVersion, ModelVersion.id == Image.model_version_id)
                .where(Job.kind.in_(_GRID_KINDS))
                .order_by(Image.model_version_id, Image.id)
            )
        ).all()
    per_version: dict[str, list[int]] = defaultdict(list)
    for image_id, version in shown:
        per_version[version].append(image_id)
    rates = [
        VersionRates(
            version=version,
            images=len(image_ids),
            rates={
                label: sum(i in labels.pictures[label] for i in image_ids) / len(image_ids)
                for label in _LABELS
            },
        )
        for version, image_ids in per_version.items()
    ]
    return VersionReport(pairs=book.pairs(), versions=rates)


async def vote_book(database: Database, *, on: Collection[int] | None = None) -> VoteBook:
    """Every direct vote between versions, by whom (people who are blocked left out). ``on``:
    the votes on these version ids only, read from the grids that can hold one rather than from
    every grid (the book then holds no other votes)."""
    return await _read(database, None, showing=on)


async def _read(
    database: Database,
    people: Collection[int] | None,
    *,
    showing: Collection[int] | None = None,
    labels: _Labels | None = None,
) -> VoteBook:
    """One pass over the grids (those ``showing`` these versions, or all): the votes, and the
    labelled pictures into ``labels`` where the caller wants them (the flywheel's judge does
    not)."""
    async with database.sessions() as session:
        names = dict((await session.execute(select(ModelVersion.id, ModelVersion.name))).all())
        blocked = set(
            (await session.execute(select(User.id).where(User.blocked.is_(True)))).scalars()
        )
    wanted = None if people is None else set(people)

    def counts(user_id: int) -> bool:
        return user_id not in blocked and (wanted is None or user_id in wanted)

    votes = _Votes({name: version_id for version_id, name in names.items()})
    async for ranking in iter_rankings(database, showing=showing):
        kept = tuple(action for action in ranking.actions if counts(action.user_id))
        if not kept:
            continue
        ranking = replace(ranking, actions=kept)
        votes.add_pairs(pairs_of(ranking))
        if labels is not None:
            labels.add(ranking)
    return VoteBook(names, dict(votes.tallies))
