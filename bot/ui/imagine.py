"""``/imagine prompt:<text> [image:<attachment>]``: a 2x2 grid from a Midjourney-style prompt,
started from the picture if one is attached; one for each prompt a permutation prompt stands
for (``a {red, blue} circle --repeat 2``), asked first above ``PICKLOOP_ASK_ABOVE_PROMPTS``.
``/blend``: a grid started from 2 to 5 pictures mixed."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.errors import UserError
from bot.core.jobs.image_prompts import Upload, check_upload_size
from bot.core.jobs.permutations import expand
from bot.ui.base import Button, Interaction

if TYPE_CHECKING:
    from bot.core.actor import Actor
    from bot.core.app import App
    from bot.core.jobs.job_view import JobView


async def imagine(
    interaction: Interaction, prompt: str, image: discord.Attachment | None = None
) -> None:
    await _imagine_with(interaction, prompt, [image] if image is not None else [])


async def blend(
    interaction: Interaction,
    image1: discord.Attachment,
    image2: discord.Attachment,
    image3: discord.Attachment | None = None,
    image4: discord.Attachment | None = None,
    image5: discord.Attachment | None = None,
    prompt: str = "",
) -> None:
    given = [image for image in (image1, image2, image3, image4, image5) if image is not None]
    await _imagine_with(interaction, prompt, given)


async def _imagine_with(
    interaction: Interaction, prompt: str, attachments: list[discord.Attachment]
) -> None:
    """Check the prompt and the attachments' sizes and types, then queue its grid (or grids)."""
    app: App = interaction.client.app
    try:
        # A prompt refused for what it says needs no "thinking…": the answer is private and
        # at once, and nobody else sees a message appear and vanish.
        prompts = expand(prompt, app.settings.max_prompts_at_once)
        for each in prompts:
            app.service.check_prompt(each, images=len(attachments))
        for attachment in attachments:
            _check_attachment(attachment, app.settings.max_upload_bytes)
        if attachments and len(prompts) > app.settings.ask_above_prompts:
            # The question's button reads the prompt back from its message after a restart;
            # pictures cannot ride along, so a set that large is not offered with them.
            raise UserError(
                f"With an image prompt, one /imagine makes at most "
                f"{app.settings.ask_above_prompts} grids; this prompt makes {len(prompts)}."
            )
    except UserError as error:
        await interaction.response.send_message(str(error), ephemeral=True)
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
    await make_set(interaction, prompt, attachments)


def _check_attachment(attachment: discord.Attachment, max_bytes: int) -> None:
    """Refuse an attachment by what Discord says of it, before it is fetched; its bytes are
    checked again once read (``bot.core.jobs.image_prompts``)."""
    check_upload_size(attachment.filename, attachment.size, max_bytes)
    kind = attachment.content_type or ""
    if kind and not kind.startswith("image/"):
        raise UserError(f"{attachment.filename} is not a picture ({kind}); attach an image.")


async def _uploads(attachments: list[discord.Attachment]) -> list[Upload]:
    """The attachments' bytes, from Discord's own storage (the attachment's URL, never one
    typed in a prompt)."""
    uploads = []
    for attachment in attachments:
        try:
            uploads.append(Upload(attachment.filename, await attachment.read()))
        except discord.HTTPException:
            raise UserError(
                f"Discord did not hand over {attachment.filename}; attach it again."
            ) from None
    return uploads


PROMPT_MARK = "Prompt: "


async def make_set(
    interaction: Interaction, prompt: str, attachments: list[discord.Attachment] | None = None
) -> None:
    """Every grid a permutation prompt stands for, each in a message of its own (one message
    for a plain prompt), started from the attachments if any."""

    async def submit_all(app: App, actor: Actor) -> list[JobView]:
        # Read once the interaction is acknowledged: a big picture may take longer than
        # Discord's three seconds.
        uploads = await _uploads(attachments or [])
        return await app.service.imagine_all(actor, prompt, confirmed=True, images=uploads)

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
        prompt="What to draw; parameters at the end: --ar 16:9 --seed 42 --no fog --steps 30",
        image="A picture to start from (an image prompt); --iw 0-3 says how much it counts",
    )(imagine)
    return app_commands.Command(
        name="imagine",
        description="Make a 2x2 grid of images from a prompt.",
        callback=described,
    )


def blend_command() -> app_commands.Command[Any, ..., None]:
    described = app_commands.describe(
        image1="A picture to blend",
        image2="Another",
        image3="Another (optional)",
        image4="Another (optional)",
        image5="Another (optional)",
        prompt="Words and parameters to go with them (optional): --ar 16:9 --iw 2",
    )(blend)
    return app_commands.Command(
        name="blend",
        description="Blend 2 to 5 pictures into a 2x2 grid.",
        callback=described,
    )
