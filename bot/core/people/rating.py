"""Pairwise rating (``/rate``): two pictures made from one prompt, and which one a person prefers.

This is Pick-a-Pic's protocol: a caption and two images, and the answer left, right or tie
(or skip). Each answer is one event naming exactly what was shown and in which order (left
image, right image, their grid positions), so the preference pairs derived from it later are
the comparison the person really made.

A pair is two *different pictures*: two images with the same bytes (the same prompt and seed
made twice) are one picture, shown and counted once. Upscales take no part: each repeats an
image of a grid.

Which pair comes next is chosen to teach the person's profile (``--p``) most:

- while a candidate of their profile is being tested blind, a picture of it and one of the
  version it would replace, from the same grid: each answer is a vote that decides the test
  sooner, and a training pair right where the two differ;
- once they have a profile, the two pictures of a prompt their profile is least sure between
  (the closest implicit rewards, ``engine.scoring``): where an answer moves it most;
- otherwise, the two pictures of a prompt that differ most (in a small thumbnail's pixels): two
  near-copies teach nothing whichever is chosen, while two pictures that differ in what the
  prompt left open (a thing's size, its colour) tell which way the person leans.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import ColumnElement, distinct, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.core.actor import Actor, find_user, get_or_create_user, refuse_if_blocked
from bot.core.errors import NotFound, UserError
from bot.core.jobs.job_view import ImageView, image_view
from engine.grid import side_by_side
from engine.protocol import Engine
from engine.types import ScoreRequest
from storage.db import Database
from storage.imagestore import ImageStore
from storage.models import (
    Event,
    EventKind,
    Image,
    Job,
    JobKind,
    JobStatus,
    ModelVersion,
    RoundStatus,
    User,
)
from storage.profiles import open_round, personal_key, profile_by_key

T = TypeVar("T")

RATE_KINDS = (EventKind.RATE_LEFT, EventKind.RATE_RIGHT, EventKind.RATE_TIE, EventKind.RATE_SKIP)


class Choice(enum.StrEnum):
    LEFT = "left"
    RIGHT = "right"
    TIE = "tie"
    SKIP = "skip"

    @property
    def event_kind(self) -> EventKind:
        return EventKind(f"rate_{self.value}")


@dataclass(frozen=True)
class Pair:
    """Two pictures of one prompt, in the order they are shown."""

    prompt: str
    left: ImageView
    right: ImageView


@dataclass(frozen=True)
class Rated:
    """What a choice left on record; ``new`` is False when the pair had been rated already."""

    kind: str
    left_image_id: str
    right_image_id: str
    new: bool


class RatingService:
    def __init__(
        self,
        database: Database,
        store: ImageStore,
        engine: Engine,
        *,
        prompts_per_try: int = 8,
        images_per_prompt: int = 48,
        images_scored: int = 12,
    ) -> None:
        self._database = database
        self._store = store
        self._engine = engine
        # Pictures of a prompt a profile scores at most for one pair: a few seconds on a CPU.
        self._images_scored = images_scored
        # Bounds on what one call reads, however many jobs there are.
        self._prompts_per_try = prompts_per_try
        self._images_per_prompt = images_per_prompt

    async def next_pair(self, actor: Actor, rng: random.Random | None = None) -> Pair | None:
        """Two pictures of one prompt this person has not compared yet, in random order;
        None once they have compared every pair there is."""
        rng = rng or random.Random()
        async with self._database.sessions() as session:
            user = await find_user(session, actor)
            refuse_if_blocked(user)
            user_id = user.id if user is not None else None
            found = await self._blind_test_pair(session, user_id, rng)
            if found is not None:
                return self._pair(*found)
            profile = await self._profile(session, user_id)
            to_choose = []
            for prompt in await self._prompts_left(session, user_id):
                images = await asyncio.to_thread(
                    self._intact, await self._sample_images(session, prompt)
                )
                # A picture made twice (the same bytes) is one picture.
                images = list({image.sha256: image for image in images}.values())
                to_choose.append(
                    (prompt, images, await self._rated_pictures(session, user_id, prompt))
                )
        # Chosen with no session open: pictures are read and scored (the engine takes seconds),
        # and a connection held that long by each person rating would starve the pool.
        for prompt, images, rated in to_choose:
            # Each picture weighed costs reading it (and, for a profile, scoring it): a few.
            candidates = images[: self._images_scored]
            if not unrated_pairs(candidates, _picture, rated):
                continue
            if profile is not None:
                pair = await self._least_sure(profile, prompt, candidates, rated, rng)
            else:
                pair = await self._most_different(candidates, rated, rng)
            if pair is not None:
                return self._pair(prompt, *pair)
        return None

    def _pair(self, prompt: str, left: Image, right: Image) -> Pair:
        return Pair(prompt, image_view(left, self._store), image_view(right, self._store))

    @staticmethod
    async def _profile(session: AsyncSession, user_id: int | None) -> ModelVersion | None:
        """The person's profile version, if they have one that draws with an adapter."""
        if user_id is None:
            return None
        profile = await profile_by_key(session, personal_key(user_id))
        if profile is None or profile.version_id is None:
            return None
        version = await session.get_one(ModelVersion, profile.version_id)
        return version if version.lora_path is not None else None

    async def _blind_test_pair(
        self, session: AsyncSession, user_id: int | None, rng: random.Random
    ) -> tuple[str, Image, Image] | None:
        """A picture of the person's candidate under test and one of the version it would
        replace, from one of their blind grids, not compared by them yet, with the grid's
        prompt; None when none."""
        if user_id is None:
            return None
        profile = await profile_by_key(session, personal_key(user_id))
        testing = await open_round(session, profile.id) if profile is not None else None
        if testing is None or testing.status is not RoundStatus.COLLECTING:
            return None
        candidate, baseline = aliased(Image), aliased(Image)
        query = (
            select(Job.prompt, candidate, baseline)
            .join(baseline, baseline.job_id == candidate.job_id)
            .join(Job, Job.id == candidate.job_id)
            .where(
                _ratable(),
                Job.owner_id == user_id,
                candidate.model_version_id == testing.candidate_version_id,
                baseline.model_version_id == testing.baseline_version_id,
                candidate.sha256 != baseline.sha256,
            )
            .order_by(func.random())
            .limit(self._images_per_prompt)
        )
        for prompt, shown, other in (await session.execute(query)).all():
            rated = await self._rated_pictures(session, user_id, prompt)
            if frozenset((shown.sha256, other.sha256)) not in rated:
                intact = await asyncio.to_thread(self._intact, [shown, other])
                if len(intact) == 2:
                    left, right = (other, shown) if rng.random() < 0.5 else (shown, other)
                    return prompt, left, right
        return None

    async def _least_sure(
        self,
        profile: ModelVersion,
        prompt: str,
        images: Sequence[Image],
        rated: Collection[frozenset[str]],
        rng: random.Random,
    ) -> tuple[Image, Image] | None:
        """The unrated pair of pictures whose implicit rewards under the profile are closest."""
        pictures = await asyncio.to_thread(self._pictures, images)
        assert profile.lora_path is not None
        scores = await self._engine.preference_scores(
            ScoreRequest(
                model=profile.base_model,
                adapter=profile.lora_path,
                prompt=prompt,
                images=tuple(pictures),
            )
        )
        return best_unrated_pair(
            images, _picture, rated, rng, lambda i, j: abs(scores[i] - scores[j])
        )

    async def _most_different(
        self, images: Sequence[Image], rated: Collection[frozenset[str]], rng: random.Random
    ) -> tuple[Image, Image] | None:
        """The unrated pair of pictures that differ most, pixel by pixel, in small thumbnails
        (where a thing's size or colour counts, not a few pixels of texture)."""
        thumbnails = await asyncio.to_thread(
            lambda: [thumbnail(picture) for picture in self._pictures(images)]
        )
        return best_unrated_pair(
            images,
            _picture,
            rated,
            rng,
            lambda i, j: -float(np.abs(thumbnails[i] - thumbnails[j]).mean()),
        )

    def _pictures(self, images: Sequence[Image]) -> list[PILImage.Image]:
        pictures = []
        for image in images:
            with PILImage.open(self._store.path(image.sha256)) as opened:
                pictures.append(opened.convert("RGB"))
        return pictures

    def _intact(self, images: Sequence[Image]) -> list[Image]:
        """The pictures whose files can be shown: a missing or damaged one is not offered."""
        return [image for image in images if self._store.problem(image.sha256) is None]

    async def record(
        self, actor: Actor, left_image_id: str, right_image_id: str, choice: Choice
    ) -> Rated:
        """Record a choice between two pictures shown as left and right.

        A pair this person already rated (in either order: a double click, an old message) is
        left as first recorded.
        """
        if left_image_id == right_image_id:
            raise UserError("A rating compares two different images; both sides are the same.")
        async with self._database.sessions.begin() as session:
            user = await get_or_create_user(session, actor)
            # One person's ratings are taken one at a time (a write locks their row on both
            # backends): a double click comes as two interactions at once, and the second
            # must see the pair the first recorded.
            await session.execute(
                update(User).where(User.id == user.id).values(display_name=User.display_name)
            )
            left, right = await _images(session, left_image_id, right_image_id)
            left_job = await session.get_one(Job, left.job_id)
            right_job = await session.get_one(Job, right.job_id)
            if JobKind.UPSCALE in (left_job.kind, right_job.kind):
                raise UserError("Upscales are not rated; compare the images of grids.")
            if left_job.prompt != right_job.prompt:
                raise UserError(
                    "These images were made from different prompts; a rating compares two "
                    "pictures of the same prompt."
                )
            if left.sha256 == right.sha256:
                raise UserError("These two images are the same picture; there is nothing to pick.")
            earlier = await self._earlier_rating(session, user.id, left_job.prompt, left, right)
            if earlier is not None:
                return Rated(earlier.value, left.public_id, right.public_id, new=False)
            session.add(
                Event(
                    user_id=user.id,
                    kind=choice.event_kind,
                    job_id=left.job_id,
                    image_id=left.id,
                    other_image_id=right.id,
                    position=left.position,
                    other_position=right.position,
                    origin=actor.origin,
                )
            )
        return Rated(choice.event_kind.value, left.public_id, right.public_id, new=True)

    # --- queries ---------------------------------------------------------------------------

    async def _prompts_left(self, session: AsyncSession, user_id: int | None) -> list[str]:
        """A random few prompts with pairs of pictures this person has not rated."""
        pictures = (
            select(Job.prompt, func.count(distinct(Image.sha256)).label("n"))
            .select_from(Image)
            .join(Job, Image.job_id == Job.id)
            .where(_ratable())
            .group_by(Job.prompt)
            .subquery()
        )
        # One event per pair of pictures (record keeps it so), hence count = pairs rated.
        rated = (
            select(Job.prompt, func.count(Event.id).label("n"))
            .join(Job, Event.job_id == Job.id)
            .where(_ratings_by(user_id))
            .group_by(Job.prompt)
            .subquery()
        )
        query = (
            select(pictures.c.prompt)
            .outerjoin(rated, rated.c.prompt == pictures.c.prompt)
            .where(pictures.c.n * (pictures.c.n - 1) > 2 * func.coalesce(rated.c.n, 0))
            .order_by(func.random())
            .limit(self._prompts_per_try)
        )
        return list((await session.execute(query)).scalars().all())

    async def _sample_images(self, session: AsyncSession, prompt: str) -> list[Image]:
        query = (
            select(Image)
            .join(Job, Image.job_id == Job.id)
            .where(_ratable(), Job.prompt == prompt)
            .order_by(func.random())
            .limit(self._images_per_prompt)
        )
        return list((await session.execute(query)).scalars().all())

    @staticmethod
    async def _rated_pictures(
        session: AsyncSession, user_id: int | None, prompt: str
    ) -> set[frozenset[str]]:
        left, right = aliased(Image), aliased(Image)
        query = (
            select(left.sha256, right.sha256)
            .select_from(Event)
            .join(left, Event.image_id == left.id)
            .join(right, Event.other_image_id == right.id)
            .join(Job, Event.job_id == Job.id)
            .where(_ratings_by(user_id), Job.prompt == prompt)
        )
        return {frozenset(row) for row in await session.execute(query)}

    @staticmethod
    async def _earlier_rating(
        session: AsyncSession, user_id: int, prompt: str, left: Image, right: Image
    ) -> EventKind | None:
        shown, other = aliased(Image), aliased(Image)
        pictures = (left.sha256, right.sha256)
        query = (
            select(Event.kind)
            .join(shown, Event.image_id == shown.id)
            .join(other, Event.other_image_id == other.id)
            .join(Job, Event.job_id == Job.id)
            .where(
                _ratings_by(user_id),
                Job.prompt == prompt,
                shown.sha256.in_(pictures),
                other.sha256.in_(pictures),
            )
            .order_by(Event.id)
            .limit(1)
        )
        return (await session.execute(query)).scalar_one_or_none()


def unrated_pairs(
    candidates: Sequence[T], picture: Callable[[T], str], rated: Collection[frozenset[str]]
) -> list[tuple[int, int]]:
    """The pairs of candidates (their indices) showing two different pictures not in
    ``rated``; a picture shown by several candidates counts once (its first)."""
    first: dict[str, int] = {}
    for i, candidate in enumerate(candidates):
        first.setdefault(picture(candidate), i)
    return [
        (i, j)
        for i, j in itertools.combinations(first.values(), 2)
        if frozenset((picture(candidates[i]), picture(candidates[j]))) not in rated
    ]


def best_unrated_pair(
    candidates: Sequence[T],
    picture: Callable[[T], str],
    rated: Collection[frozenset[str]],
    rng: random.Random,
    cost: Callable[[int, int], float],
) -> tuple[T, T] | None:
    """Of the candidates' unrated pairs of different pictures, the one of least ``cost`` (of
    the two candidates' indices; ties drawn at random), in random order; None when none."""
    unrated = unrated_pairs(candidates, picture, rated)
    if not unrated:
        return None
    costs = [cost(i, j) for i, j in unrated]
    least = min(costs)
    i, j = rng.choice([pair for pair, c in zip(unrated, costs, strict=True) if c == least])
    left, right = candidates[i], candidates[j]
    return (right, left) if rng.random() < 0.5 else (left, right)


def thumbnail(picture: PILImage.Image) -> np.ndarray:
    """A picture as 32x32 RGB floats: what two pictures' difference is measured on."""
    small = picture.convert("RGB").resize((_THUMBNAIL, _THUMBNAIL), PILImage.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


_THUMBNAIL = 32


def pair_picture(pair: Pair) -> PILImage.Image:
    """What a rater sees: the left image, then the right one."""
    with PILImage.open(pair.left.path) as left, PILImage.open(pair.right.path) as right:
        return side_by_side(left, right)


def _picture(image: Image) -> str:
    return image.sha256


def _ratable() -> ColumnElement[bool]:
    """Which images (joined to their jobs) a pair may show."""
    return (Job.status == JobStatus.DONE) & (Job.kind != JobKind.UPSCALE)


def _ratings_by(user_id: int | None) -> ColumnElement[bool]:
    return (Event.user_id == user_id) & Event.kind.in_(RATE_KINDS)


async def _images(session: AsyncSession, *public_ids: str) -> list[Image]:
    query = select(Image).where(Image.public_id.in_(public_ids))
    found = {image.public_id: image for image in (await session.execute(query)).scalars()}
    for public_id in public_ids:
        if public_id not in found:
            raise NotFound(f"No image {public_id!r}; it may have been deleted.")
    return [found[public_id] for public_id in public_ids]
