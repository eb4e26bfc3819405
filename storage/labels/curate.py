"""Curation: which derived pairs and labels a dataset keeps, and a report of what is in it.

Two passes over the grids (``iter_rankings``), so memory grows with the number of people, not
with the number of events:

1. A survey of each person: how many signals they gave and where on the grid their U-clicks
   landed (the click-position histogram, whose Shannon entropy tells a person who always clicks
   U1 from one who looks), who is opted out or blocked, which images are byte-identical copies.
2. The grids again, each one's pairs and labels derived (``storage.labels.derive``) and passed
   through the filters; what survives is yielded, and a ``Tally`` counts what each filter removed
   and what the kept rows hold.

Filters, in the order they are asked; a row removed by one is counted for that one only:

- ``excluded`` (always): rows by people who opted out or are blocked, and rows on the pictures
  of their grids (their prompts are theirs, whoever clicked).
- ``min_signals``: people with fewer signals than asked (a signal: a click, a reaction or a
  ``/rate`` answer; a skip or a ❌ is none).
- ``position_entropy``: people with at least ``entropy_min_clicks`` U-clicks whose click
  positions have less entropy (bits; 0 always the same position, 2 all four alike) than asked.
- ``date_range``: rows whose deciding signal was given before ``since`` or from ``until`` on.
- ``model_version``: rows on a picture made by a model version not asked for.
- ``banned_words``: rows on a prompt the caller's predicate refuses (the bot's banned words).
- ``duplicate_images``: pairs of two byte-identical pictures, and labels on a copy of a picture
  labelled earlier in the stream.

Events recorded while curation runs (the bot may be serving) wait for the next run, so both
passes read the same rows.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.labels.derive import (
    BUILT_ON,
    RATE_LEFT,
    RATE_RIGHT,
    RATE_TIE,
    REACTIONS,
    REROLL,
    UPSCALE,
    labels_of,
    pairs_of,
)
from storage.labels.load import iter_rankings
from storage.labels.rows import Action, GridRanking, ImageLabel, PreferencePair, ShownImage
from storage.models import Consent, Event, Image, Job, User

POSITIONS = 4
MAX_ENTROPY_BITS = math.log2(POSITIONS)
SIGNAL_KINDS = frozenset({UPSCALE, REROLL, RATE_LEFT, RATE_RIGHT, RATE_TIE, *BUILT_ON, *REACTIONS})

EXCLUDED = "excluded"
MIN_SIGNALS = "min_signals"
POSITION_ENTROPY = "position_entropy"
DATE_RANGE = "date_range"
MODEL_VERSION = "model_version"
BANNED_WORDS = "banned_words"
DUPLICATE_IMAGES = "duplicate_images"
FILTERS = (
    EXCLUDED,
    MIN_SIGNALS,
    POSITION_ENTROPY,
    DATE_RANGE,
    MODEL_VERSION,
    BANNED_WORDS,
    DUPLICATE_IMAGES,
)
PERSON_FILTERS = (EXCLUDED, MIN_SIGNALS, POSITION_ENTROPY)


@dataclass(frozen=True)
class Curation:
    """What to leave out besides opted-out and blocked people (always left out)."""

    min_signals_per_person: int = 0
    # Bits, 0 to 2; None: no one is judged by where they click.
    min_position_entropy: float | None = None
    # Fewer U-clicks than this say too little about a person's habits to judge them by.
    entropy_min_clicks: int = 4
    # True for a prompt that must not be in the data (the bot passes its banned words).
    banned_prompt: Callable[[str], bool] | None = None
    drop_duplicate_images: bool = True
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    model_versions: frozenset[str] | None = None
    # One person's doings only: the training data of their own profile. Theirs are kept even
    # if they opted out (such data never leaves pickloop); everyone else's are left out.
    person: int | None = None

    def __post_init__(self) -> None:
        if self.min_signals_per_person < 0:
            raise ValueError("the minimum number of signals cannot be negative")
        entropy = self.min_position_entropy
        if entropy is not None and not 0 <= entropy <= MAX_ENTROPY_BITS:
            raise ValueError(f"the minimum position entropy is 0 to {MAX_ENTROPY_BITS:g} bits")
        if self.entropy_min_clicks < 1:
            raise ValueError("entropy needs at least one U-click to be measured")
        for name, when in (("since", self.since), ("until", self.until)):
            if when is not None and when.tzinfo is None:
                raise ValueError(f"{name} must be an aware datetime")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must come before until")
        if self.model_versions is not None and not self.model_versions:
            raise ValueError("give at least one model version, or None for all")

    def to_json(self) -> dict[str, Any]:
        return {
            "min_signals_per_person": self.min_signals_per_person,
            "min_position_entropy": self.min_position_entropy,
            "entropy_min_clicks": self.entropy_min_clicks,
            "banned_words": self.banned_prompt is not None,
            "drop_duplicate_images": self.drop_duplicate_images,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "model_versions": sorted(self.model_versions) if self.model_versions else None,
            "person": self.person is not None,
        }


def position_entropy(histogram: Sequence[int]) -> float:
    """Shannon entropy, in bits, of click counts per position (0 for no clicks)."""
    total = sum(histogram)
    if total == 0:
        return 0.0
    return -sum(n / total * math.log2(n / total) for n in histogram if n) + 0.0


@dataclass
class PersonStats:
    """What pass 1 learns of one person."""

    signals: int = 0
    # U-clicks on grid positions 0..3.
    clicks: list[int] = field(default_factory=lambda: [0] * POSITIONS)

    @property
    def entropy(self) -> float:
        return position_entropy(self.clicks)


def is_uclick(action: Action) -> bool:
    """A U-click on one of a grid's own images (not a click on an upscale)."""
    return (
        action.kind == UPSCALE and action.position is not None and action.upscale_image_id is None
    )


def survey_people(rankings: Iterable[GridRanking]) -> dict[int, PersonStats]:
    """Each person's signal count and U-click positions, over the given grids."""
    people: dict[int, PersonStats] = {}
    for ranking in rankings:
        add_to_survey(people, ranking)
    return people


def add_to_survey(people: dict[int, PersonStats], ranking: GridRanking) -> None:
    for action in ranking.actions:
        if action.kind not in SIGNAL_KINDS:
            continue
        stats = people.setdefault(action.user_id, PersonStats())
        stats.signals += 1
        if is_uclick(action) and action.position is not None and action.position < POSITIONS:
            stats.clicks[action.position] += 1


@dataclass(frozen=True)
class Survey:
    """Pass 1's findings, the ground pass 2 stands on."""

    people: Mapping[int, PersonStats]
    excluded_people: frozenset[int] = frozenset()
    # The jobs of excluded people: rows on their pictures go too.
    excluded_jobs: frozenset[int] = frozenset()
    # Digests of pictures stored more than once.
    duplicated: frozenset[str] = frozenset()
    # Events after this one (recorded while curating) wait for the next run.
    last_event_id: int | None = None


@dataclass(frozen=True)
class CuratedRanking:
    """One grid after curation: its record with only the actions of people kept, and the pairs
    and labels that passed every filter."""

    ranking: GridRanking
    pairs: tuple[PreferencePair, ...]
    labels: tuple[ImageLabel, ...]


@dataclass(frozen=True)
class Removed:
    """What one filter took out; ``people`` only for the filters that judge people."""

    filter: str
    pairs: int
    ties: int
    labels: int
    people: int | None


@dataclass(frozen=True)
class Agreement:
    """How far people who judged the same two pictures agree."""

    contested_pairs: int  # pictures judged by two people or more
    judgements: int  # on those
    with_majority: int  # judgements that side with the most common verdict on their pair
    people_pairs: int  # two people on one contested pair
    people_pairs_agreeing: int

    @classmethod
    def of(cls, verdicts: Mapping[int, int | None]) -> Agreement:
        """The agreement on one pair of pictures: each person's verdict, by person."""
        if len(verdicts) < 2:
            return cls(0, 0, 0, 0, 0)
        counts = Counter(verdicts.values())
        judged = len(verdicts)
        return cls(
            contested_pairs=1,
            judgements=judged,
            with_majority=max(counts.values()),
            people_pairs=judged * (judged - 1) // 2,
            people_pairs_agreeing=sum(n * (n - 1) // 2 for n in counts.values()),
        )

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def majority_share(self) -> float | None:
        return self.with_majority / self.judgements if self.judgements else None

    @property
    def pairwise_share(self) -> float | None:
        return self.people_pairs_agreeing / self.people_pairs if self.people_pairs else None


@dataclass(frozen=True)
class CurationReport:
    options: Curation
    derived_pairs: int  # before any filter, ties included
    derived_labels: int
    pairs: int  # kept, ties not included
    ties: int
    positive_labels: int
    negative_labels: int
    prompts: int
    people: int
    grids: int
    # U-clicks per grid position 1..4: of the people kept, and of everyone.
    click_positions: tuple[int, ...]
    all_click_positions: tuple[int, ...]
    agreement: Agreement
    removed: tuple[Removed, ...]

    def to_json(self) -> dict[str, Any]:
        a = self.agreement
        return {
            "options": self.options.to_json(),
            "derived": {"pairs": self.derived_pairs, "labels": self.derived_labels},
            "kept": {
                "pairs": self.pairs,
                "ties": self.ties,
                "labels": {"positive": self.positive_labels, "negative": self.negative_labels},
                "prompts": self.prompts,
                "people": self.people,
                "grids": self.grids,
            },
            "click_positions": _by_position(self.click_positions),
            "all_click_positions": _by_position(self.all_click_positions),
            "agreement": {
                "contested_pairs": a.contested_pairs,
                "judgements": a.judgements,
                "with_majority": a.with_majority,
                "majority_share": a.majority_share,
                "people_pairs": a.people_pairs,
                "people_pairs_agreeing": a.people_pairs_agreeing,
                "pairwise_share": a.pairwise_share,
            },
            "removed": {
                r.filter: {"pairs": r.pairs, "ties": r.ties, "labels": r.labels, "people": r.people}
                for r in self.removed
            },
        }


def _by_position(counts: Sequence[int]) -> dict[str, int]:
    return {str(position + 1): n for position, n in enumerate(counts)}


# One person's verdict on two pictures: the winner's image id, or None for a tie.
_Verdicts = dict[int, int | None]


class Curator:
    """Pass 2 over grids, pure: filters each grid's rows and tallies what it keeps and removes."""

    def __init__(self, options: Curation, survey: Survey) -> None:
        self.options = options
        self.survey = survey
        self._people_out = self._judge_people()
        self._first_copy: dict[str, int] = {}
        self._derived = [0, 0]
        self._removed = {name: [0, 0, 0] for name in FILTERS}  # pairs, ties, labels
        self._kept = Counter[str]()
        self._prompts: set[bytes] = set()
        self._people: set[int] = set()
        # Verdicts on pictures from two grids wait until the end: they may come from the
        # records of both grids. Those within one grid are settled with it.
        self._across_grids: dict[frozenset[int], _Verdicts] = {}
        self._agreement = Agreement(0, 0, 0, 0, 0)

    def _judge_people(self) -> dict[int, str]:
        """Why each person the survey found is left out, for those who are."""
        out = {}
        minimum_entropy = self.options.min_position_entropy
        for user_id, stats in self.survey.people.items():
            if user_id in self.survey.excluded_people:
                out[user_id] = EXCLUDED
            elif stats.signals < self.options.min_signals_per_person:
                out[user_id] = MIN_SIGNALS
            elif (
                minimum_entropy is not None
                and sum(stats.clicks) >= self.options.entropy_min_clicks
                and stats.entropy < minimum_entropy
            ):
                out[user_id] = POSITION_ENTROPY
        return out

    def _person_out(self, user_id: int) -> str | None:
        """The filter that leaves this person out, if one does."""
        if user_id in self.survey.excluded_people:  # whether or not the survey found them
            return EXCLUDED
        return self._people_out.get(user_id)

    def curate(self, ranking: GridRanking) -> CuratedRanking | None:
        """The grid's kept rows; None when its actions are all after the survey or the grid
        belongs to someone excluded."""
        last = self.survey.last_event_id
        if last is not None:
            ranking = replace(
                ranking, actions=tuple(a for a in ranking.actions if a.event_id <= last)
            )
        if not ranking.actions:
            return None
        pairs, labels = pairs_of(ranking), labels_of(ranking)
        self._derived[0] += len(pairs)
        self._derived[1] += len(labels)
        kept_pairs = tuple(p for p in pairs if self._keeps_pair(p))
        kept_labels = tuple(lab for lab in labels if self._keeps_label(lab))
        self._count_kept(kept_pairs, kept_labels)
        self._agree(kept_pairs)
        if any(image.job_id in self.survey.excluded_jobs for image in ranking.images):
            return None
        people_kept = tuple(a for a in ranking.actions if self._person_out(a.user_id) is None)
        return CuratedRanking(replace(ranking, actions=people_kept), kept_pairs, kept_labels)

    def _keeps_pair(self, pair: PreferencePair) -> bool:
        images = (pair.winner, pair.loser)
        reason = self._row_filter(pair.user_id, pair.caption, pair.created_at, images)
        same_picture = pair.winner.sha256 == pair.loser.sha256
        if reason is None and self.options.drop_duplicate_images and same_picture:
            reason = DUPLICATE_IMAGES
        if reason is None:
            return True
        self._removed[reason][1 if pair.tie else 0] += 1
        return False

    def _keeps_label(self, label: ImageLabel) -> bool:
        image = label.image
        reason = self._row_filter(label.user_id, label.caption, label.created_at, (image,))
        copied = image.sha256 in self.survey.duplicated
        if reason is None and self.options.drop_duplicate_images and copied:
            first = self._first_copy.setdefault(image.sha256, image.image_id)
            if first != image.image_id:
                reason = DUPLICATE_IMAGES
        if reason is None:
            return True
        self._removed[reason][2] += 1
        return False

    def _row_filter(
        self, user_id: int, caption: str, when: datetime, images: Sequence[ShownImage]
    ) -> str | None:
        options = self.options
        person = self._person_out(user_id)
        if person is not None:
            return person
        if any(image.job_id in self.survey.excluded_jobs for image in images):
            return EXCLUDED
        if (options.since is not None and when < options.since) or (
            options.until is not None and when >= options.until
        ):
            return DATE_RANGE
        versions = options.model_versions
        if versions is not None and any(image.model_version not in versions for image in images):
            return MODEL_VERSION
        refused = options.banned_prompt
        if refused is not None and any(
            refused(text) for text in {caption, *(image.prompt for image in images)}
        ):
            return BANNED_WORDS
        return None

    def _count_kept(self, pairs: Sequence[PreferencePair], labels: Sequence[ImageLabel]) -> None:
        for pair in pairs:
            self._kept["ties" if pair.tie else "pairs"] += 1
        for label in labels:
            self._kept["positive" if label.positive else "negative"] += 1
        said = [*((p.user_id, p.caption) for p in pairs), *((b.user_id, b.caption) for b in labels)]
        for user_id, caption in said:
            self._people.add(user_id)
            self._prompts.add(hashlib.blake2b(caption.encode(), digest_size=16).digest())
        if pairs or labels:
            self._kept["grids"] += 1

    def _agree(self, pairs: Sequence[PreferencePair]) -> None:
        within: dict[frozenset[int], _Verdicts] = {}
        for pair in pairs:
            key = frozenset((pair.winner.image_id, pair.loser.image_id))
            across = pair.winner.job_id != pair.loser.job_id
            verdicts = (self._across_grids if across else within).setdefault(key, {})
            # One verdict per person: the first (a later one on the same two pictures would be
            # a /rate answer from the other grid's side, which the rating service refuses).
            verdicts.setdefault(pair.user_id, None if pair.tie else pair.winner.image_id)
        for verdicts in within.values():
            self._agreement += Agreement.of(verdicts)

    def report(self) -> CurationReport:
        """What was kept and removed by the grids curated so far."""
        agreement = self._agreement
        for verdicts in self._across_grids.values():
            agreement += Agreement.of(verdicts)
        people_removed = Counter(self._people_out.values())
        everyone = [0] * POSITIONS
        kept_clicks = [0] * POSITIONS
        for user_id, stats in self.survey.people.items():
            for position, n in enumerate(stats.clicks):
                everyone[position] += n
                if user_id not in self._people_out:
                    kept_clicks[position] += n
        return CurationReport(
            options=self.options,
            derived_pairs=self._derived[0],
            derived_labels=self._derived[1],
            pairs=self._kept["pairs"],
            ties=self._kept["ties"],
            positive_labels=self._kept["positive"],
            negative_labels=self._kept["negative"],
            prompts=len(self._prompts),
            people=len(self._people),
            grids=self._kept["grids"],
            click_positions=tuple(kept_clicks),
            all_click_positions=tuple(everyone),
            agreement=agreement,
            removed=tuple(
                Removed(
                    name,
                    pairs=self._removed[name][0],
                    ties=self._removed[name][1],
                    labels=self._removed[name][2],
                    people=people_removed[name] if name in PERSON_FILTERS else None,
                )
                for name in FILTERS
            ),
        )


async def left_out_people(
    session: AsyncSession, person: int | None = None
) -> tuple[frozenset[int], frozenset[int]]:
    """People who opted out or are blocked, and the jobs they own: never curated or exported.
    With ``person``, everyone else is left out too, and that person's own grids are kept unless
    they are blocked (their profile's data is theirs, whatever they chose for exports)."""
    left_out = or_(User.consent == Consent.OPTED_OUT, User.blocked.is_(True))
    left_out_jobs = left_out
    if person is not None:
        blocked = User.blocked.is_(True)
        left_out_jobs = and_(left_out, or_(User.id != person, blocked))
        left_out = or_(User.id != person, blocked)
    people = (await session.execute(select(User.id).where(left_out))).scalars().all()
    theirs = select(Job.id).join(User, Job.owner_id == User.id).where(left_out_jobs)
    jobs = (await session.execute(theirs)).scalars().all()
    return frozenset(people), frozenset(jobs)


async def survey(database: Database, person: int | None = None) -> Survey:
    """Pass 1: each person's signals and clicks, who is left out, which pictures are copies
    (``person``: only theirs are kept; see ``left_out_people``)."""
    async with database.sessions() as session:
        last_event = (await session.execute(select(func.max(Event.id)))).scalar_one() or 0
        excluded, excluded_jobs = await left_out_people(session, person)
        copies = select(Image.sha256).group_by(Image.sha256).having(func.count(Image.id) > 1)
        duplicated = (await session.execute(copies)).scalars().all()
    people: dict[int, PersonStats] = {}
    async for ranking in iter_rankings(database):
        actions = tuple(a for a in ranking.actions if a.event_id <= last_event)
        add_to_survey(people, replace(ranking, actions=actions))
    return Survey(
        people=people,
        excluded_people=excluded,
        excluded_jobs=excluded_jobs,
        duplicated=frozenset(duplicated),
        last_event_id=last_event,
    )


async def curated(
    database: Database, options: Curation, *, curator: Curator | None = None
) -> AsyncIterator[CuratedRanking]:
    """The grids as curated, in job-id order; pass a ``Curator`` (made with ``survey``) to read
    its report once the stream is done."""
    if curator is None:
        curator = Curator(options, await survey(database, options.person))
    async for ranking in iter_rankings(database):
        kept = curator.curate(ranking)
        if kept is not None:
            yield kept


async def curate(database: Database, options: Curation) -> CurationReport:
    """Run both passes and report what the curated data holds and what each filter removed."""
    curator = Curator(options, await survey(database, options.person))
    async for _ in curated(database, options, curator=curator):
        pass
    return curator.report()
