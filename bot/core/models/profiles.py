"""Profiles (``--p``): a model of one person's taste, or of the whole server's, that the flywheel
trains from their signals and keeps better (``bot.core.loop``).

A person's profile is trained from their own signals only, once they have given
``PICKLOOP_PROFILE_MIN_SIGNALS``; it draws their grids when they ask with ``--p`` (or turned it
on in /settings). They may share it with a code (``--p CODE``) that says nothing of whose it is,
and revoke the code. ``--p server`` draws with the server's community profile.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.actor import Actor, find_user, get_or_create_user
from bot.core.errors import NotFound, UserError
from storage.db import Database, rows_changed
from storage.models import (
    FlywheelRound,
    ModelVersion,
    Profile,
    ProfileShare,
    RoundStatus,
    User,
    utcnow,
)
from storage.profiles import (
    SERVER_KEY,
    open_round,
    personal_key,
    profile_by_key,
    rounds_of,
    signals_of,
)

# The /settings key that turns --p on for every plain /imagine.
PERSONALIZE = "personalize"

_CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l, o, 0 or 1 to misread
_CODE_LENGTH = 8
# Share codes one person may hold at once, revoked ones not counted.
MAX_SHARES = 10


@dataclass(frozen=True)
class ProfileWanted:
    """Which profile a prompt's ``--p`` asks to draw with."""

    kind: Literal["own", "shared", "server", "off"]
    code: str | None = None  # a share code, for "shared"


@dataclass(frozen=True)
class ProfileStatus:
    """What ``/profile`` and ``/info`` tell a person of their profile."""

    signals: int
    # Signals at which the next training starts, and how many more that is.
    next_training_at: int
    more_needed: int
    trained: bool
    changed_at: datetime | None
    # A round under way: "training" (export and fine-tune) or "testing" (collecting votes).
    under_way: str | None
    default_on: bool
    shares: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "signals": self.signals,
            "next_training_at": self.next_training_at,
            "more_needed": self.more_needed,
            "trained": self.trained,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "under_way": self.under_way,
            "default_on": self.default_on,
            "shares": list(self.shares),
        }


def next_training_at(
    signals_at_last_round: int | None, settings: Settings, *, server: bool = False
) -> int:
    """The signal count at which a profile's next round starts: a person's first once they
    said enough, the server's first and every later one once that many new signals came."""
    if signals_at_last_round is None:
        return settings.flywheel_min_new_signals if server else settings.profile_min_signals
    return signals_at_last_round + settings.flywheel_min_new_signals


class Profiles:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._settings = settings

    async def status(self, actor: Actor) -> ProfileStatus:
        async with self._database.sessions() as session:
            user = await find_user(session, actor)
            if user is None:
                return self._status(0, None, None, None, False, ())
            profile = await profile_by_key(session, personal_key(user.id))
            signals = await signals_of(session, user.id)
            rounds = await rounds_of(session, profile.id) if profile is not None else []
            shares = await _live_codes(session, profile) if profile is not None else ()
        last = rounds[0] if rounds else None
        return self._status(
            signals,
            profile,
            last,
            # As the flywheel counts (bot.core.loop.flywheel): from the last round, whatever
            # became of it; a failed one waits for new signals too.
            rounds[0].signals if rounds else None,
            bool(user.defaults.get(PERSONALIZE, False)),
            shares,
        )

    def _status(
        self,
        signals: int,
        profile: Profile | None,
        last: FlywheelRound | None,
        signals_at_last_round: int | None,
        default_on: bool,
        shares: tuple[str, ...],
    ) -> ProfileStatus:
        at = next_training_at(signals_at_last_round, self._settings)
        under_way = None
        if last is not None and last.status.open:
            training = last.status in (RoundStatus.EXPORTING, RoundStatus.TRAINING)
            under_way = "training" if training else "testing"
        return ProfileStatus(
            signals=signals,
            next_training_at=at,
            more_needed=max(0, at - signals),
            trained=profile is not None and profile.version_id is not None,
            changed_at=profile.changed_at if profile is not None else None,
            under_way=under_way,
            default_on=default_on,
            shares=shares,
        )

    async def share(self, actor: Actor) -> str:
        """A new code others can draw with the person's profile by (``--p CODE``)."""
        async with self._database.sessions.begin() as session:
            user = await get_or_create_user(session, actor)
            profile = await profile_by_key(session, personal_key(user.id))
            if profile is None or profile.version_id is None:
                raise UserError(
                    "You have no profile to share yet: it is trained from your signals."
                )
            if len(await _live_codes(session, profile)) >= MAX_SHARES:
                raise UserError(
                    f"You already have {MAX_SHARES} share codes; revoke one before making another."
                )
            code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
            session.add(ProfileShare(code=code, profile_id=profile.id))
        return code

    async def revoke(self, actor: Actor, code: str) -> None:
        """Stop a share code of the person's from working; others' codes are not theirs to stop."""
        wanted = code.strip().lower()
        async with self._database.sessions.begin() as session:
            user = await find_user(session, actor)
            profile = (
                await profile_by_key(session, personal_key(user.id)) if user is not None else None
            )
            revoked = rows_changed(
                await session.execute(
                    update(ProfileShare)
                    .where(
                        ProfileShare.code == wanted,
                        ProfileShare.profile_id == (profile.id if profile else -1),
                        ProfileShare.revoked_at.is_(None),
                    )
                    .values(revoked_at=utcnow())
                )
            )
        if not revoked:
            raise NotFound(f"You have no share code {code.strip()!r} to revoke.")


async def profile_version(
    session: AsyncSession, user: User | None, wanted: ProfileWanted | None, defaults: dict[str, Any]
) -> ModelVersion | None:
    """The version a grid draws with for the profile it asks for; None: no profile (the serving
    version draws). Asked for explicitly, a profile that cannot draw is refused with why; turned
    on in /settings, a person without a trained profile yet simply gets the serving version."""
    if wanted is None:
        if not defaults.get(PERSONALIZE):
            return None
        return await _own_version(session, user, quietly=True)
    if wanted.kind == "off":
        return None
    if wanted.kind == "own":
        return await _own_version(session, user, quietly=False)
    if wanted.kind == "server":
        profile = await profile_by_key(session, SERVER_KEY)
        if profile is None or profile.version_id is None:
            raise UserError(
                "The server has no community profile yet: the flywheel trains one from "
                "everyone's signals. Leave out --p server for now."
            )
        return await session.get_one(ModelVersion, profile.version_id)
    share = (
        await session.execute(
            select(ProfileShare).where(
                ProfileShare.code == wanted.code, ProfileShare.revoked_at.is_(None)
            )
        )
    ).scalar_one_or_none()
    profile = await session.get(Profile, share.profile_id) if share is not None else None
    if profile is None or profile.version_id is None:
        raise NotFound(f"No profile has the share code {wanted.code!r} (it may have been revoked).")
    return await session.get_one(ModelVersion, profile.version_id)


async def _own_version(
    session: AsyncSession, user: User | None, *, quietly: bool
) -> ModelVersion | None:
    profile = await profile_by_key(session, personal_key(user.id)) if user is not None else None
    if profile is not None and profile.version_id is not None:
        return await session.get_one(ModelVersion, profile.version_id)
    if quietly:
        return None
    under_way = profile is not None and await open_round(session, profile.id) is not None
    signals = await signals_of(session, user.id) if user is not None else 0
    if under_way:
        why = "your first one is being trained and tested now"
    else:
        why = f"it is trained from your signals once you have enough (you have {signals})"
    raise UserError(f"You have no profile yet: {why}. /profile tells more; leave out --p for now.")


async def _live_codes(session: AsyncSession, profile: Profile) -> tuple[str, ...]:
    query = (
        select(ProfileShare.code)
        .where(ProfileShare.profile_id == profile.id, ProfileShare.revoked_at.is_(None))
        .order_by(ProfileShare.id)
    )
    return tuple((await session.execute(query)).scalars().all())
