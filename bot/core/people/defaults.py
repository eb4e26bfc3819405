"""Per-person defaults (``/settings``): what a plain ``/imagine`` uses when the prompt says nothing.

A default is checked exactly as the prompt parameter it stands for (``--ar``, ``--steps``,
``--cfg``, ``--no``), by the same parser, so a value /settings accepts is one a prompt could
have carried, and a change is all or nothing: every value is checked before any is written.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import select

from bot.config import Settings
from bot.core.actor import Actor, find_user, get_or_create_user
from bot.core.errors import UserError
from bot.core.jobs.prompt import ParsedPrompt, PromptLimits, parse_prompt
from bot.core.models.profiles import PERSONALIZE
from bot.core.moderation.banned_words import BannedWords
from storage.db import Database
from storage.models import User

# The keys in ``User.defaults``; JobService.imagine reads the first four.
ASPECT = "aspect"
STEPS = "steps"
GUIDANCE = "guidance"
NEGATIVE_SUFFIX = "negative_suffix"
PRIVATE = "private"

MAX_NEGATIVE_SUFFIX = 500

# Defaults are read as parameters of a prompt with this text, which nobody sees.
_PLACEHOLDER = "defaults"
_FIELD_OF_FLAG = {"ar": "aspect", "steps": "steps", "cfg": "guidance", "no": "negative_prompt"}


@dataclass(frozen=True)
class Defaults:
    """A person's defaults; None where they have not chosen one (the server's then applies)."""

    aspect: str | None = None
    steps: int | None = None
    guidance: float | None = None
    negative_suffix: str = ""
    private: bool = False
    # --p on every plain /imagine: the person's profile draws, once they have one.
    personalize: bool = False

    @classmethod
    def of(cls, stored: dict[str, Any]) -> Defaults:
        return cls(
            aspect=stored.get(ASPECT),
            steps=stored.get(STEPS),
            guidance=stored.get(GUIDANCE),
            negative_suffix=stored.get(NEGATIVE_SUFFIX, ""),
            private=bool(stored.get(PRIVATE, False)),
            personalize=bool(stored.get(PERSONALIZE, False)),
        )


@dataclass(frozen=True)
class Change:
    """What /settings was asked to change; None leaves a value as it is."""

    aspect: str | None = None
    steps: int | None = None
    guidance: float | None = None
    negative_suffix: str | None = None
    private: bool | None = None
    personalize: bool | None = None
    # Back to the server's defaults first; values given alongside are then applied.
    reset: bool = False


class Preferences:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._limits = PromptLimits(
            max_steps=settings.max_steps, max_guidance=settings.max_guidance
        )
        self._banned_words = BannedWords(settings.banned_words)

    async def current(self, actor: Actor) -> Defaults:
        async with self._database.sessions() as session:
            user = await find_user(session, actor)
        return Defaults.of(user.defaults if user is not None else {})

    async def change(self, actor: Actor, change: Change) -> Defaults:
        """Apply ``change`` and return the defaults now in force; raises UserError (and changes
        nothing) when any value would be refused as a prompt parameter."""
        checked = self._checked(change)
        async with self._database.sessions.begin() as session:
            user = await get_or_create_user(session, actor)
            stored = {} if change.reset else dict(user.defaults)
            stored.update(checked)
            # A fresh dict: the JSON column notices a new value, not one changed in place.
            user.defaults = stored
        return Defaults.of(stored)

    async def private_discord_ids(self) -> set[int]:
        """Discord accounts that chose private replies (loaded once when the bot starts)."""
        async with self._database.sessions() as session:
            rows = await session.execute(
                select(User.discord_id, User.defaults).where(User.discord_id.is_not(None))
            )
            return {
                discord_id
                for discord_id, defaults in rows.all()
                if discord_id is not None and (defaults or {}).get(PRIVATE)
            }

    def _checked(self, change: Change) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if change.aspect is not None:
            aspect = self._parameter("ar", change.aspect.strip()).aspect
            assert aspect is not None
            values[ASPECT] = f"{aspect[0]}:{aspect[1]}"
        if change.steps is not None:
            values[STEPS] = self._parameter("steps", str(change.steps)).steps
        if change.guidance is not None:
            values[GUIDANCE] = self._parameter("cfg", f"{change.guidance:g}").guidance
        if change.negative_suffix is not None:
            values[NEGATIVE_SUFFIX] = self._negative_suffix(change.negative_suffix)
        if change.private is not None:
            values[PRIVATE] = change.private
        if change.personalize is not None:
            values[PERSONALIZE] = change.personalize
        return values

    def _parameter(self, flag: str, value: str) -> ParsedPrompt:
        """``value`` read as the prompt parameter ``--flag``: the same checks, the same words."""
        if flag != "no" and (not value or len(value.split()) != 1):
            raise UserError(f"--{flag} takes one value, not {value!r}.")
        parsed = parse_prompt(f"{_PLACEHOLDER} --{flag} {value}", self._limits)
        given = {
            name.name
            for name in fields(parsed)
            if name.name != "prompt" and getattr(parsed, name.name) not in (None, "", False)
        }
        if given - {_FIELD_OF_FLAG[flag]}:
            raise UserError(f"A default for --{flag} cannot carry other --parameters.")
        return parsed

    def _negative_suffix(self, text: str) -> str:
        """Terms added to every prompt's --no; empty clears it."""
        if len(text) > MAX_NEGATIVE_SUFFIX:
            raise UserError(
                f"The negative prompt suffix is {len(text)} characters; "
                f"at most {MAX_NEGATIVE_SUFFIX} are allowed."
            )
        self._banned_words.check(text)
        if not text.strip():
            return ""
        return self._parameter("no", text).negative_prompt
