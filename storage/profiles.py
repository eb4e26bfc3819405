"""Profiles in the database: finding them, counting the signals that train them, and the
rounds of the flywheel that keep them better (``bot.core.models.profiles`` and
``bot.core.loop`` build on these)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    OPEN_ROUNDS,
    Consent,
    Event,
    EventKind,
    FlywheelRound,
    Profile,
    RoundStatus,
    User,
)

SERVER_KEY = "server"
# What is no signal of taste: a skipped /rate pair, a post its owner took down.
_NOT_SIGNALS = (EventKind.RATE_SKIP, EventKind.DELETE)


def personal_key(user_id: int) -> str:
    return f"user:{user_id}"


def profile_folder(profiles_dir: Path, key: str) -> Path:
    """Where a profile's training sets and adapters live (a person's goes with their data)."""
    return profiles_dir / key.replace(":", "-")


async def signals_of(session: AsyncSession, user_id: int | None) -> int:
    """A person's signals (clicks, reactions, /rate answers); None: the community's, everyone's
    who may be exported (people who opted out or are blocked train no shared profile)."""
    query = select(func.count(Event.id)).where(Event.kind.not_in(_NOT_SIGNALS))
    if user_id is not None:
        query = query.where(Event.user_id == user_id)
    else:
        left_out = or_(User.consent == Consent.OPTED_OUT, User.blocked.is_(True))
        query = query.join(User, User.id == Event.user_id).where(~left_out)
    return int(await session.scalar(query) or 0)


async def profile_by_key(session: AsyncSession, key: str) -> Profile | None:
    found = await session.execute(select(Profile).where(Profile.key == key))
    return found.scalar_one_or_none()


async def get_or_create_profile(session: AsyncSession, owner_id: int | None) -> Profile:
    """The person's profile (None: the server's), made on first use, without a version yet."""
    key = SERVER_KEY if owner_id is None else personal_key(owner_id)
    profile = await profile_by_key(session, key)
    if profile is None:
        profile = Profile(key=key, owner_id=owner_id)
        session.add(profile)
        await session.flush()
    return profile


async def rounds_of(session: AsyncSession, profile_id: int) -> list[FlywheelRound]:
    """A profile's rounds, the newest first."""
    query = (
        select(FlywheelRound)
        .where(FlywheelRound.profile_id == profile_id)
        .order_by(FlywheelRound.id.desc())
    )
    return list((await session.execute(query)).scalars().all())


async def open_round(session: AsyncSession, profile_id: int) -> FlywheelRound | None:
    query = select(FlywheelRound).where(
        FlywheelRound.profile_id == profile_id, FlywheelRound.status.in_(OPEN_ROUNDS)
    )
    return (await session.execute(query)).scalars().first()


async def personal_owner_of_version(session: AsyncSession, version_id: int) -> int | None:
    """The person whose own profile the version belongs to (it was a candidate of one of its
    rounds); None for any other version."""
    query = (
        select(Profile.owner_id)
        .join(FlywheelRound, FlywheelRound.profile_id == Profile.id)
        .where(FlywheelRound.candidate_version_id == version_id, Profile.owner_id.is_not(None))
    )
    return (await session.execute(query)).scalars().first()


async def collecting_candidate(
    session: AsyncSession, user_id: int | None, version_id: int
) -> int | None:
    """The candidate version a grid of this person, drawn with ``version_id``, may compare blind:
    that of their own profile's round collecting votes against it, else the server's."""
    keys = [SERVER_KEY] if user_id is None else [personal_key(user_id), SERVER_KEY]
    query = (
        select(Profile.key, FlywheelRound.candidate_version_id)
        .join(FlywheelRound, FlywheelRound.profile_id == Profile.id)
        .where(
            Profile.key.in_(keys),
            FlywheelRound.status == RoundStatus.COLLECTING,
            FlywheelRound.baseline_version_id == version_id,
            FlywheelRound.candidate_version_id.is_not(None),
        )
    )
    found = dict((await session.execute(query)).all())
    return next((found[key] for key in keys if key in found), None)
