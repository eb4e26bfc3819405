"""``/rate``: two pictures of one prompt side by side; Left, Right, Tie or Skip, then the next.

Everything happens in one message only the rater sees: each click records the choice and turns
that message into the next pair. The buttons carry both image ids
(``pl:p:<l|r|t|s>:<left image>:<right image>``), so the choice recorded is the pair that was
shown, in the order it was shown, and a click on a message from before a restart still works.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.errors import UserError
from bot.core.people.rating import Choice, Pair, pair_picture
from bot.ui import messages
from bot.ui.base import Button, Interaction, bot_of
from bot.ui.delivery import actor_of

if TYPE_CHECKING:
    from bot.core.app import App

log = logging.getLogger(__name__)

NOTHING_TO_RATE = (
    "There is no pair of pictures for you to rate right now: /rate shows two pictures made "
    "from the same prompt. Use /imagine to make some first."
)
ALL_RATED = "You've rated every pair there is for now — thanks!"
SOMETHING_WENT_WRONG = "Sorry, something went wrong on pickloop's side; try /rate again."

_LETTERS = {Choice.LEFT: "l", Choice.RIGHT: "r", Choice.TIE: "t", Choice.SKIP: "s"}
_CHOICES = {letter: choice for choice, letter in _LETTERS.items()}
_LOOKS = {
    Choice.LEFT: ("Left", "⬅️", discord.ButtonStyle.primary),
    Choice.RIGHT: ("Right", "➡️", discord.ButtonStyle.primary),
    Choice.TIE: ("Tie", "🤝", discord.ButtonStyle.secondary),
    Choice.SKIP: ("Skip", "⏭️", discord.ButtonStyle.secondary),
}

IMAGE = r"[a-z0-9]{1,40}"
PAIR_ID = re.compile(rf"pl:p:(?P<choice>[lrts]):(?P<left>{IMAGE}):(?P<right>{IMAGE})")


class PairButton(discord.ui.DynamicItem[Button], template=PAIR_ID):
    """One of Left, Right, Tie, Skip under a pair."""

    def __init__(self, choice: Choice, left: str, right: str) -> None:
        label, emoji, style = _LOOKS[choice]
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=style,
                custom_id=f"pl:p:{_LETTERS[choice]}:{left}:{right}",
            )
        )
        self.choice = choice
        self.left = left
        self.right = right

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PairButton:
        return cls(_CHOICES[match["choice"]], match["left"], match["right"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # A deferred update: the message clicked is the one the next pair replaces.
        await interaction.response.defer()
        app: App = bot_of(interaction).app
        notice = ""
        try:
            await app.rating.record(actor_of(interaction), self.left, self.right, self.choice)
        except UserError as refused:
            # The next pair still comes, so that a pair gone since (deleted) holds no one up.
            notice = str(refused)
        await show_next(app, interaction, notice=notice, none_left=ALL_RATED)


async def rate(interaction: Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    await show_next(bot_of(interaction).app, interaction, none_left=NOTHING_TO_RATE)


async def show_next(
    app: App, interaction: Interaction, *, notice: str = "", none_left: str
) -> None:
    """Turn the rater's message into their next pair, or say there is none."""
    try:
        pair = await app.rating.next_pair(actor_of(interaction))
        if pair is None:
            await _edit(interaction, _lines(notice, none_left))
            return
        picture = await asyncio.to_thread(_picture_file, pair, interaction.filesize_limit)
        await _edit(interaction, _lines(notice, caption(pair)), picture, buttons(pair))
    except UserError as refused:
        await _edit(interaction, str(refused))
    except Exception:
        log.exception("could not show a pair to rate to %s", interaction.user.id)
        await _edit(interaction, SOMETHING_WENT_WRONG)


def caption(pair: Pair) -> str:
    prompt = discord.utils.escape_markdown(pair.prompt) or "(no prompt)"
    room = messages.MAX_CONTENT - 200
    if len(prompt) > room:
        prompt = prompt[: room - 1] + "…"
    return f"**{prompt}**\nWhich picture do you prefer? Left, Right, a Tie — or Skip."


def buttons(pair: Pair) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for choice in Choice:
        view.add_item(PairButton(choice, pair.left.id, pair.right.id))
    return view


def rate_command() -> app_commands.Command[Any, ..., None]:
    # Built by calling, as /imagine is (see bot.ui.imagine).
    return app_commands.Command(
        name="rate",
        description="Pick the better of two pictures made from the same prompt.",
        callback=rate,
    )


def _picture_file(pair: Pair, size_limit: int) -> discord.File:
    png = io.BytesIO()
    pair_picture(pair).save(png, format="PNG")
    return messages.picture_file(
        png.getvalue(), f"pickloop_rate_{pair.left.id}_{pair.right.id}", size_limit
    )


async def _edit(
    interaction: Interaction,
    content: str,
    picture: discord.File | None = None,
    view: discord.ui.View | None = None,
) -> None:
    await interaction.edit_original_response(
        content=content, attachments=[picture] if picture else [], view=view
    )


def _lines(*parts: str) -> str:
    return "\n".join(part for part in parts if part)
