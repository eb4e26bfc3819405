"""``/imagine prompt:<text>``: a 2x2 grid from a Midjourney-style prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.errors import UserError

if TYPE_CHECKING:
    from bot.core.actor import Actor
    from bot.core.app import App
    from bot.core.jobs.job_view import JobView


async def imagine(interaction: discord.Interaction, prompt: str) -> None:
    app: App = interaction.client.app
    try:
        # A prompt refused for what it says needs no "thinking…": the answer is private and
        # at once, and nobody else sees a message appear and vanish.
        app.service.check_prompt(prompt)
    except UserError as error:
        await interaction.response.send_message(str(error), ephemeral=True)
        return

    async def submit(app: App, actor: Actor) -> JobView:
        return await app.service.imagine(actor, prompt)

    await interaction.client.answer(interaction, submit)


def imagine_command() -> Any:
    # Built by calling rather than with discord's decorators: those are untyped to mypy, and
    # a decorated function would lose its own types.
    described = app_commands.describe(
        prompt="What to draw; parameters at the end: --ar 16:9 --seed 42 --no fog --steps 30"
    )(imagine)
    return app_commands.Command(
        name="imagine",
        description="Make a 2x2 grid of images from a prompt.",
        callback=described,
    )
