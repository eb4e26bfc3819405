"""Who is acting: a person on Discord or a local name at the terminal, and their user row."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import PermissionDenied
from storage.models import Origin, User


@dataclass(frozen=True)
class Actor:
    """A person as the front end knows them; exactly one of the two identities is set."""

    origin: Origin
    local_name: str | None = None
    discord_id: int | None = None
    display_name: str = ""

    def __post_init__(self) -> None:
        if (self.local_name is None) == (self.discord_id is None):
            raise ValueError("an actor is either a local name or a Discord account")

    @property
    def identity(self) -> str:
        """Who this is, whatever display name they go by today (e.g. whose line a job joins)."""
        if self.discord_id is not None:
            return f"discord:{self.discord_id}"
        return f"local:{self.local_name}"

    @classmethod
    def local(cls, name: str) -> Actor:
        return cls(origin=Origin.CLI, local_name=name, display_name=name)

    @classmethod
    def discord(cls, discord_id: int, display_name: str) -> Actor:
        return cls(origin=Origin.DISCORD, discord_id=discord_id, display_name=display_name)


def identifies(actor: Actor) -> ColumnElement[bool]:
    """The condition that picks the actor's row out of ``users``."""
    if actor.discord_id is not None:
        return User.discord_id == actor.discord_id
    return User.local_name == actor.local_name


async def find_user(session: AsyncSession, actor: Actor) -> User | None:
    query = select(User).where(identifies(actor))
    return (await session.execute(query)).scalar_one_or_none()


async def get_or_create_user(session: AsyncSession, actor: Actor) -> User:
    """The actor's row, created on first contact; refuses blocked people."""
    user = await find_user(session, actor)
    if user is None:
        user = User(
            discord_id=actor.discord_id,
            local_name=actor.local_name,
            display_name=actor.display_name[:100],
        )
        # A savepoint, so a concurrent first contact by the same person costs a re-read,
        # not the caller's whole transaction.
        try:
            async with session.begin_nested():
                session.add(user)
        except IntegrityError:
            found = await find_user(session, actor)
            if found is None:
                raise
            user = found
    refuse_if_blocked(user)
    return user


def refuse_if_blocked(user: User | None) -> None:
    if user is not None and user.blocked:
        raise PermissionDenied("You are blocked from using pickloop on this server.")
