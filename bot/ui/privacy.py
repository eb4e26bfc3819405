"""``/privacy``: what pickloop keeps about a person, and their say over it; and the short notice
a person gets the first time they use pickloop.

Every answer here is ephemeral: it is about one person's data, for their eyes only.
"""

from __future__ import annotations

import io
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.actor import Actor
from bot.core.errors import UserError
from bot.core.people.privacy import Summary
from bot.ui.base import Button, Interaction, bot_of
from storage.models import Consent

if TYPE_CHECKING:
    from bot.core.app import App

log = logging.getLogger(__name__)

NOTICE = (
    "👋 First time with pickloop? It keeps your Discord id and name, your prompts, the images "
    "made for you, and your clicks and reactions on images, to learn what people like; never "
    "your messages. `/privacy info` says more: opt out of training datasets, download or "
    "delete your data there."
)

_CONSENT = {
    Consent.UNKNOWN: "not chosen: your clicks and ratings may go into training datasets, "
    "under a pseudonym",
    Consent.OPTED_IN: "opted in: your clicks and ratings may go into training datasets, "
    "under a pseudonym",
    Consent.OPTED_OUT: "opted out: nothing of yours goes into a training dataset",
}


def info_text(summary: Summary) -> str:
    return (
        "**What pickloop keeps about you**\n"
        "• Your Discord id and display name, and your `/settings`.\n"
        "• Every prompt you send, with its parameters, and the images made for it; where each "
        "picture was posted (server, channel and message ids).\n"
        "• Your clicks on the buttons (U, V, 🔄) and your reactions and ratings: that is how "
        "pickloop learns which pictures people prefer.\n"
        "**What it never keeps**: your messages, anything you type outside pickloop's commands, "
        "or any token.\n"
        "**Training datasets**: the operator may export clicks and ratings to fine-tune the "
        "model. You appear there under a pseudonym, never your Discord id or name; opted-out "
        "people are left out.\n"
        "**Your profile** (`--p`): trained from your own signals only, whether or not you opted "
        "out; never exported; `/privacy delete` deletes it.\n"
        f"**You**: {_CONSENT[summary.consent]}. Kept: {summary.jobs} jobs, {summary.images} "
        f"images, {summary.events} clicks and reactions.\n"
        "`/privacy opt-out` · `/privacy opt-in` · `/privacy download` · `/privacy delete`"
    )


async def welcome(app: App, interaction: Interaction, actor: Actor) -> None:
    """The first-use notice, once per person, once the interaction's own answer is out.

    After a deferral the first followup takes the place of the "thinking…" message (with the
    deferral's visibility, public for /imagine), so this comes after that message was answered.
    A notice that cannot be given never costs the person their command.
    """
    try:
        if await app.privacy.first_contact(actor):
            await interaction.followup.send(NOTICE, ephemeral=True)
    except Exception:
        log.warning("no privacy notice for %s", interaction.user.id, exc_info=True)


def _app(interaction: Interaction) -> App:
    app: App = bot_of(interaction).app
    return app


def _actor(interaction: Interaction) -> Actor:
    return Actor.discord(interaction.user.id, interaction.user.display_name)


async def info(interaction: Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    # The full account: no need for the short notice besides.
    summary = await _app(interaction).privacy.summary(_actor(interaction))
    await interaction.edit_original_response(content=info_text(summary))


async def opt_out(interaction: Interaction) -> None:
    await _set_consent(interaction, opted_in=False)


async def opt_in(interaction: Interaction) -> None:
    await _set_consent(interaction, opted_in=True)


async def _set_consent(interaction: Interaction, *, opted_in: bool) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    app, actor = _app(interaction), _actor(interaction)
    consent = await app.privacy.set_consent(actor, opted_in)
    await interaction.edit_original_response(
        content=f"Done. Training datasets: {_CONSENT[consent]}. What pickloop keeps of you "
        "otherwise does not change: `/privacy info`."
    )
    await welcome(app, interaction, actor)


async def download(interaction: Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    data = await _app(interaction).privacy.download(
        _actor(interaction), size_limit=interaction.filesize_limit
    )
    content = "Everything pickloop keeps about you: `pickloop-data.json` and your images."
    if not data.images_included:
        content = (
            "Your images weigh more than Discord lets me upload here, so this holds "
            "`pickloop-data.json` alone; it lists every job and image, and `/show` with a job "
            "id posts that job's pictures again."
        )
    await interaction.edit_original_response(
        content=content,
        attachments=[discord.File(io.BytesIO(data.data), filename="pickloop-data.zip")],
    )


async def delete(interaction: Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    summary = await _app(interaction).privacy.summary(_actor(interaction))
    await interaction.edit_original_response(
        content=(
            f"This deletes everything pickloop keeps about you: {summary.jobs} jobs, "
            f"{summary.images} images, {summary.events} clicks and reactions, and the image "
            "files no one else's pictures share. It cannot be undone; `/privacy download` "
            "first if you want a copy. Pictures already posted in Discord stay there until "
            "you delete those messages."
        ),
        view=_confirmation(interaction.user.id),
    )


def _confirmation(person_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(DeleteMyDataButton(person_id))
    return view


DELETE_ID = re.compile(r"pl:privacy-delete:(?P<person>[0-9]{1,20})")


class DeleteMyDataButton(discord.ui.DynamicItem[Button], template=DELETE_ID):
    """The red button under ``/privacy delete``; its custom_id names whose data it deletes."""

    def __init__(self, person_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Delete my data",
                style=discord.ButtonStyle.danger,
                custom_id=f"pl:privacy-delete:{person_id}",
            )
        )
        self.person_id = person_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DeleteMyDataButton:
        return cls(int(match["person"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.user.id != self.person_id:
            await interaction.response.send_message(
                "Only the person who asked can confirm this; `/privacy delete` is there "
                "for your own data.",
                ephemeral=True,
            )
            return
        # Acknowledged as an update of the confirmation message, which the answer replaces.
        await interaction.response.defer()
        try:
            deleted = await _app(interaction).privacy.delete(_actor(interaction))
        except UserError as error:
            await interaction.edit_original_response(
                content=str(error), view=_confirmation(self.person_id)
            )
            return
        await interaction.edit_original_response(
            content=(
                f"Deleted: {deleted.jobs} jobs, {deleted.images} images, {deleted.events} "
                f"clicks and reactions, and {deleted.files} image files. pickloop keeps nothing "
                "of you now; using it again starts afresh."
            ),
            view=None,
        )


def privacy_command() -> app_commands.Group:
    # Built by calling, as /imagine is (see bot.ui.imagine).
    group = app_commands.Group(
        name="privacy", description="What pickloop keeps about you; opt out, download or delete it."
    )
    for name, description, callback in (
        ("info", "What pickloop keeps about you, and what it never keeps.", info),
        ("opt-out", "Keep your clicks and ratings out of training datasets.", opt_out),
        ("opt-in", "Let your clicks and ratings go into training datasets.", opt_in),
        ("download", "Everything pickloop keeps about you, as a zip.", download),
        ("delete", "Delete everything pickloop keeps about you.", delete),
    ):
        group.add_command(
            app_commands.Command(name=name, description=description, callback=callback)
        )
    return group
