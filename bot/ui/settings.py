"""``/settings``: a person's defaults for /imagine, shown or changed, visible to them alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.errors import UserError
from bot.core.people.defaults import Change, Defaults
from bot.ui.base import Interaction
from bot.ui.delivery import actor_of

if TYPE_CHECKING:
    from bot.config import Settings


async def settings(
    interaction: Interaction,
    aspect: str | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    negative: str | None = None,
    private: bool | None = None,
    personalize: bool | None = None,
    reset: bool = False,
) -> None:
    # Acknowledged before the database is touched (Discord's 3-second rule).
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = interaction.client
    actor = actor_of(interaction)
    change = Change(
        aspect=aspect,
        steps=steps,
        guidance=guidance,
        negative_suffix=negative,
        private=private,
        personalize=personalize,
        reset=reset,
    )
    try:
        if change == Change():
            await interaction.edit_original_response(
                content=describe(await bot.app.preferences.current(actor), bot.app.settings)
            )
            return
        now = await bot.app.preferences.change(actor, change)
    except UserError as error:
        await interaction.edit_original_response(content=f"{error}\nNothing was changed.")
        return
    bot.prefer_private_replies(interaction.user.id, now.private)
    await interaction.edit_original_response(content="Saved.\n" + describe(now, bot.app.settings))


def describe(defaults: Defaults, server: Settings) -> str:
    """The defaults in force, the server's where the person chose none."""

    def chosen(value: object, fallback: str) -> str:
        return f"**{value}**" if value is not None else f"{fallback} (server default)"

    suffix = discord.utils.escape_markdown(defaults.negative_suffix)
    lines = [
        "Your defaults for /imagine (a prompt's own --parameters still win):",
        f"• aspect: {chosen(defaults.aspect, 'the model’s native size')}",
        f"• steps: {chosen(defaults.steps, str(server.default_steps))}",
        f"• guidance: {chosen(defaults.guidance, f'{server.default_guidance:g}')}",
        f"• negative suffix: {f'**{suffix}**' if suffix else 'none'}",
        f"• replies: {'**private** (only you see them)' if defaults.private else 'public'}",
        f"• your profile (--p) on every prompt: {'**on**' if defaults.personalize else 'off'}",
        f"Allowed: aspect from 1:4 to 4:1, steps 1 to {server.max_steps}, "
        f"guidance 0 to {server.max_guidance:g}; reset:True goes back to the server's defaults.",
    ]
    return "\n".join(lines)


def settings_command() -> app_commands.Command[Any, ..., None]:
    # Built by calling, as /imagine is (see bot.ui.imagine).
    described = app_commands.describe(
        aspect="Default aspect ratio W:H, as --ar (e.g. 16:9)",
        steps="Default denoising steps, as --steps",
        guidance="Default guidance, as --cfg",
        negative="Terms added to every prompt's --no (reset:True clears it)",
        private="Show your /imagine results and clicks to you alone",
        personalize="Draw with your profile (--p) by default, once you have one",
        reset="Go back to the server's defaults first",
    )(settings)
    return app_commands.Command(
        name="settings",
        description="Show or change your defaults for /imagine.",
        callback=described,
    )
