"""From an interaction to a picture in Discord: acknowledge, submit, run, and show the result.

The same path serves ``/imagine`` and every button, so they all keep Discord's 3-second
acknowledgement deadline the same way: the interaction is deferred before the database or the
engine is touched, and the job runs in a background task, never inside the handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.app import App
from bot.errors import UserError
from bot.people import Actor
from bot.ui import messages
from bot.ui.buttons import keyboard
from bot.views import JobView
from storage.models import JobStatus

log = logging.getLogger(__name__)

Submit = Callable[[App, Actor], Awaitable[JobView]]
Spawn = Callable[[Awaitable[None]], Any]


def actor_of(interaction: discord.Interaction) -> Actor:
    return Actor.discord(interaction.user.id, interaction.user.display_name)


async def answer(app: App, interaction: discord.Interaction, submit: Submit, spawn: Spawn) -> None:
    """Acknowledge at once, queue the job, and leave running it to a background task."""
    await interaction.response.defer(thinking=True)
    try:
        queued = await submit(app, actor_of(interaction))
    except UserError as error:
        await refuse(interaction, str(error))
        return
    except Exception:
        # Not the person's fault, and nothing was queued: say so rather than leave
        # "thinking…" up forever.
        log.exception("could not queue a job for %s", interaction.user.id)
        await refuse(interaction, "Sorry, something went wrong on pickloop's side; try again.")
        return
    spawn(deliver(app, interaction, queued))


async def refuse(interaction: discord.Interaction, reason: str) -> None:
    """Only the person who asked sees why not; the public "thinking…" message goes away."""
    await interaction.delete_original_response()
    await interaction.followup.send(reason, ephemeral=True)


async def deliver(app: App, interaction: discord.Interaction, queued: JobView) -> None:
    """Run the job and replace the "thinking…" message with its picture and buttons."""
    try:
        await app.runner.run(queued.job_id)
        view = await app.service.show(queued.job_id)
        if view.status != JobStatus.DONE.value:
            await interaction.edit_original_response(content=messages.failure(view))
            return
        picture = await asyncio.to_thread(messages.image_file, view, interaction.filesize_limit)
        await interaction.edit_original_response(
            content=messages.caption(view, interaction.user.id),
            attachments=[picture],
            view=keyboard(view),
        )
    except discord.HTTPException:
        # The job and its images are safe in the database whatever Discord answered;
        # /show brings them back.
        log.exception("could not show job %s in Discord", queued.job_id)
