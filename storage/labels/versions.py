"""Which model version people prefer, from what they did: the report behind
``pickloop models report``.

Direct votes come from pictures of two versions shown side by side: a U-click on a picture of a
grid that also showed pictures of another version (a blind A/B grid) is a vote for the clicked
picture's version over each other version in that grid, and a `/rate` choice between pictures
of two versions is a vote too (a tie counts half to each). One person clicking the same picture
twice votes once. Per-image label rates say, for each version, how often its grid pictures were
upscaled, varied, liked, disliked or re-rolled, whether or not they were compared.

People who are blocked are left out, as they are from every export.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.labels.winrate import WinRate
from storage.models import Event, EventKind, Image, Job, JobKind, ModelVersion, User

_RATE_CHOICES = frozenset({EventKind.RATE_LEFT, EventKind.RATE_RIGHT, EventKind.RATE_TIE})
# What each per-image rate counts; a picture counts once however often it got the signal.
_LABELS: dict[str, frozenset[EventKind]] = {
    "upscaled": frozenset({EventKind.UPSCALE}),
    "varied": frozenset({EventKind.VARY_SUBTLE, EventKind.VARY_STRONG}),
    "liked": frozenset({EventKind.FAVORITE, EventKind.LIKE}),
    "disliked": frozenset({EventKind.DISLIKE}),
}
_GRID_KINDS = (JobKind.IMAGINE, JobKind.REROLL, JobKind.VARIATION)


@dataclass(frozen=True)
class PairReport:
    """Direct votes between two versions, from the first one's side (the newer of the two)."""

    first: str
    second: str
    votes: WinRate
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


@dataclass(frozen=True)
class _Shown:
    job_id: int
    version_id: int


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
    def __init__(self) -> None:
        self.tallies: dict[tuple[int, int], _Tally] = defaultdict(_Tally)

    def add(self, winner: int, loser: int, *, tie: bool = False, from_rating: bool) -> None:
        newer, older = max(winner, loser), min(winner, loser)
        self.tallies[newer, older].add(None if tie else winner == newer, from_rating=from_rating)


async def version_report(session: AsyncSession) -> VersionReport:
    names = dict((await session.execute(select(ModelVersion.id, ModelVersion.name))).all())
    shown = await _grid_images(session)
    versions_in_grid: dict[int, set[int]] = defaultdict(set)
    for image in shown.values():
        versions_in_grid[image.job_id].add(image.version_id)

    votes = _Votes()
    labelled: dict[str, set[int]] = defaultdict(set)
    rerolled_grids: set[int] = set()
    counted_clicks: set[tuple[int, int]] = set()
    for event in await _events(session):
        if event.kind is EventKind.REROLL:
            rerolled_grids.add(event.job_id)
            continue
        if event.image_id is None or event.image_id not in shown:
            continue
        image = shown[event.image_id]
        for label, kinds in _LABELS.items():
            if event.kind in kinds:
                labelled[label].add(event.image_id)
        click = (event.user_id, event.image_id)
        if event.kind is EventKind.UPSCALE and click not in counted_clicks:
            counted_clicks.add(click)
            for other in versions_in_grid[image.job_id] - {image.version_id}:
                votes.add(image.version_id, other, from_rating=False)
        elif event.kind in _RATE_CHOICES and event.other_image_id in shown:
            other_version = shown[event.other_image_id].version_id
            if other_version == image.version_id:
                continue
            left, right = image.version_id, other_version
            winner, loser = (right, left) if event.kind is EventKind.RATE_RIGHT else (left, right)
            votes.add(winner, loser, tie=event.kind is EventKind.RATE_TIE, from_rating=True)

    pairs = [
        PairReport(
            first=names[newer],
            second=names[older],
            votes=WinRate(wins=tally.wins, losses=tally.losses, ties=tally.ties),
            from_upscales=tally.from_upscales,
            from_ratings=tally.from_ratings,
        )
        for (newer, older), tally in sorted(votes.tallies.items())
    ]
    per_version: dict[int, list[int]] = defaultdict(list)
    for image_id, image in shown.items():
        per_version[image.version_id].append(image_id)
    rates = [
        VersionRates(
            version=names[version_id],
            images=len(image_ids),
            rates={
                **{label: _share(image_ids, labelled[label].__contains__) for label in _LABELS},
                "rerolled": _share(image_ids, lambda i: shown[i].job_id in rerolled_grids),
            },
        )
        for version_id, image_ids in sorted(per_version.items())
    ]
    return VersionReport(pairs=pairs, versions=rates)


def _share(image_ids: list[int], holds: Callable[[int], bool]) -> float:
    return sum(holds(image_id) for image_id in image_ids) / len(image_ids)


async def _grid_images(session: AsyncSession) -> dict[int, _Shown]:
    query = (
        select(Image.id, Image.job_id, Image.model_version_id)
        .join(Job, Job.id == Image.job_id)
        .where(Job.kind.in_(_GRID_KINDS))
    )
    return {
        row.id: _Shown(job_id=row.job_id, version_id=row.model_version_id)
        for row in await session.execute(query)
    }


async def _events(session: AsyncSession) -> list[Event]:
    query = (
        select(Event)
        .join(User, User.id == Event.user_id)
        .where(User.blocked.is_(False))
        .order_by(Event.created_at, Event.id)
    )
    return list((await session.execute(query)).scalars().all())
