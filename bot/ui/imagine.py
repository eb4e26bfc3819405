"""``/imagine prompt:<text>``: a 2x2 grid from a Midjourney-style prompt; one for each prompt
a permutation prompt stands for (``a {red, blue} circle --repeat 2``), asked first above
``PICKLOOP_ASK_ABOVE_PROMPTS``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.errors import UserError
from bot.core.jobs.permutations import expand
from bot.ui.base import Button, Interaction

if TYPE_CHECKING:
    from bot.core.actor import Actor
    from bot.core.app import App
    from bot.core.jobs.job_view import JobView


async def imagine(interaction: Interaction, prompt: str) -> None:
    app: App = interaction.client.app
    try:
        # A prompt refused for what it says needs no "thinking…": the answer is private and
        # at once, and nobody else sees a message appear and vanish.
        prompts = expand(prompt, app.settings.max_prompts_at_once)
        for each in prompts:
            app.service.check_prompt(each)
    except UserError as error:
        await interaction.response.send_message(str(error), ephemeral=True)
        return
    if len(prompts) == 1:

        async def submit(app: App, actor: Actor) -> JobView:
            return await app.service.imagine(actor, prompt)

        await interaction.client.answer(interaction, submit)
        return
    if len(prompts) > app.settings.ask_above_prompts:
        # Asked privately; the prompt rides in the question, for the button to read back
        # (after a restart too).
        confirm = discord.ui.View(timeout=None)
        confirm.add_item(ConfirmSetButton())
        await interaction.response.send_message(
            f"This prompt makes {len(prompts)} grids. Make them all?\n{PROMPT_MARK}{prompt}",
            view=confirm,
            ephemeral=True,
        )
        return
    await make_set(interaction, prompt)


PROMPT_MARK = "Prompt: "


async def make_set(interaction: Interaction, prompt: str) -> None:
    """Every grid a permutation prompt stands for, each in a message of its own."""

    async def submit_all(app: App, actor: Actor) -> list[JobView]:
        return await app.service.imagine_all(actor, prompt, confirmed=True)

    await interaction.client.answer_set(interaction, submit_all)


class ConfirmSetButton(discord.ui.DynamicItem[Button], template=re.compile(r"pl:ps")):
    """ "Make them all", under the question a large permutation prompt asks."""

    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(
                label="Make them all", style=discord.ButtonStyle.primary, custom_id="pl:ps"
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ConfirmSetButton:
        return cls()

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        question = interaction.message.content if interaction.message is not None else ""
        prompt = question.partition(PROMPT_MARK)[2]
        await make_set(interaction, prompt)


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
