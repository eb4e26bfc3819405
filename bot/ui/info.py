"""``/info``: where a person's jobs stand and what they have made and given, to them alone."""

from __future__ import annotations

from typing import Any

from discord import app_commands

from bot.core.people.account import AccountInfo, LineEntry
from bot.ui.base import Interaction
from bot.ui.delivery import actor_of
from bot.ui.messages import excerpt, standing
from bot.ui.profile import describe as describe_profile


async def info(interaction: Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = interaction.client
    actor = actor_of(interaction)
    found = await bot.app.accounts.info(actor)
    profile = await bot.app.profiles.status(actor)
    await interaction.edit_original_response(
        content=describe(found) + "\n" + describe_profile(profile)
    )


def _line(entry: LineEntry) -> str:
    return f"• `{entry.job_id}` {standing(entry.status, entry.position)}: {excerpt(entry.prompt)}"


def describe(found: AccountInfo) -> str:
    unfinished = found.running + found.queued
    lines = [
        f"**Your queue** ({len(unfinished)} of at most {found.queue_limit} at once)",
        *(_line(entry) for entry in unfinished),
    ]
    if not unfinished:
        lines.append("Nothing queued or running.")
    lines += [
        "**So far**",
        f"• jobs: {found.jobs} · images: {found.images}",
        f"• clicks given (upscale, vary, re-roll): {found.clicks}",
        f"• ratings given (reactions, /rate): {found.ratings}",
    ]
    return "\n".join(lines)


def info_command() -> app_commands.Command[Any, ..., None]:
    return app_commands.Command(
        name="info",
        description="Your jobs in the queue and what you have made so far.",
        callback=info,
    )
