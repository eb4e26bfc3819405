"""Which human signal an emoji (or its name, at the terminal) stands for."""

from __future__ import annotations

from bot.core.errors import UserError
from storage.models import EventKind

_VARIATION_SELECTOR = "\ufe0f"

_KINDS: dict[str, EventKind] = {
    "\u2764": EventKind.FAVORITE,  # ❤️
    "\u2b50": EventKind.FAVORITE,  # ⭐
    "\U0001f44d": EventKind.LIKE,  # 👍
    "\U0001f44e": EventKind.DISLIKE,  # 👎
    "\u274c": EventKind.DELETE,  # ❌
    "heart": EventKind.FAVORITE,
    "favorite": EventKind.FAVORITE,
    "favourite": EventKind.FAVORITE,
    "star": EventKind.FAVORITE,
    "like": EventKind.LIKE,
    "+1": EventKind.LIKE,
    "thumbsup": EventKind.LIKE,
    "dislike": EventKind.DISLIKE,
    "-1": EventKind.DISLIKE,
    "thumbsdown": EventKind.DISLIKE,
    "delete": EventKind.DELETE,
    "x": EventKind.DELETE,
}

ALLOWED_REACTIONS = "❤️ ⭐ 👍 👎 ❌ (or heart, star, like, dislike, delete)"


def reaction_kind(emoji: str) -> EventKind:
    key = emoji.strip().replace(_VARIATION_SELECTOR, "").lower()
    try:
        return _KINDS[key]
    except KeyError:
        raise UserError(
            f"{emoji!r} is not a reaction pickloop records. Use {ALLOWED_REACTIONS}."
        ) from None
