"""The Discord front end: the only package that imports discord.

``run_bot`` is what ``pickloop bot`` starts; everything else is wired from ``bot.ui.client``.
"""

from __future__ import annotations

from bot.ui.client import DiscordUnreachable, PickloopBot, TokenRejected, run_bot

__all__ = ["DiscordUnreachable", "PickloopBot", "TokenRejected", "run_bot"]
