"""``/imagine prompt:<text>``: a 2x2 grid from a Midjourney-style prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from discord import app_commands

from bot.core.errors import UserError
from bot.ui.base import Interaction

if TYPE_CHECKING:
    from bot.core.actor import Actor
    from bot.core.app import App
    from bot.core.jobs.job_view import JobView


async def imagine(interaction: Interaction, prompt: str) -> None:
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


def imagine_command() -> app_commands.Command[Any, ..., None]:
    # Built by calling rather than with discord's decorators: the command is made when the
    # bot is, and the function stays a plain coroutine that keeps its name.
    described = app_commands.describe(
        prompt="What to draw; parameters at the end: --ar 16:9 --seed 42 --no fog --steps 30"
    )(imagine)
    return app_commands.Command(
        name="imagine",
        description="Make a 2x2 grid of images from a prompt.",
        callback=described,
    )
