"""Reactions on pickloop's pictures: ❤️ ⭐ 👍 👎 are recorded (for the one image of an upscale,
for the whole job on a grid); ❌ from the owner deletes; ✉️ sends the picture to the reactor's
DMs.

Raw reaction events are used, not the cached kind: a reaction on a message posted before a
restart (no longer in the library's cache) counts the same. The message is read back from
Discord to learn which job it shows; its buttons carry the job id.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any

import discord

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.errors import UserError
from bot.core.jobs.job_view import JobView
from bot.core.jobs.reactions import reaction_kind
from bot.ui import messages
from storage.models import EventKind

log = logging.getLogger(__name__)

# Every Discord account may receive files of this size in DMs.
DM_UPLOAD_LIMIT = 10 * 1024 * 1024

ENVELOPE = "✉"
_VARIATION_SELECTOR = "\ufe0f"
_JOB_IN_BUTTON = re.compile(r"pl:[a-z]+:(?P<job>[a-z0-9]{1,40})(?::|$)")


def job_of_message(message: Mapping[str, Any]) -> str | None:
    """The job a pickloop message shows, read from its buttons' custom_ids."""
    for row in message.get("components") or []:
        for component in row.get("components") or []:
            found = _JOB_IN_BUTTON.match(component.get("custom_id") or "")
            if found:
                return found["job"]
    return None


async def send_to_dms(client: discord.Client, user_id: int, view: JobView) -> None:
    """✉️: the picture in the reactor's DMs, with what it takes to make it again."""
    picture = await asyncio.to_thread(messages.image_file, view, DM_UPLOAD_LIMIT)
    channel = await client.http.start_private_message(user_id)
    try:
        await client.get_partial_messageable(int(channel["id"])).send(
            content=messages.recipe(view), file=picture
        )
    except discord.Forbidden:
        log.info("%s does not accept DMs from pickloop", user_id)


async def on_reaction(
    app: App, client: discord.Client, event: discord.RawReactionActionEvent
) -> None:
    """Handle one MESSAGE_REACTION_ADD (a ``discord.RawReactionActionEvent``)."""
    if client.user is None or event.user_id == client.user.id:
        return
    emoji = str(event.emoji)
    envelope = emoji.replace(_VARIATION_SELECTOR, "") == ENVELOPE
    try:
        kind = None if envelope else reaction_kind(emoji)
    except UserError:
        return  # any other emoji is just conversation
    message = await client.http.get_message(event.channel_id, event.message_id)
    if int(message["author"]["id"]) != client.user.id:
        return
    job_id = job_of_message(message)
    if job_id is None:
        return
    view = await app.service.show(job_id)
    if envelope:
        await send_to_dms(client, event.user_id, view)
        return
    name = event.member.display_name if event.member is not None else str(event.user_id)
    actor = Actor.discord(event.user_id, name)
    try:
        if view.kind == "upscale" and view.images:
            await app.service.react(actor, view.images[0].id, emoji)
        else:
            # A grid's four images share one message: the reaction is kept for the grid.
            await app.service.react_to_grid(actor, job_id, emoji)
    except UserError as refused:
        log.info("reaction by %s not recorded: %s", event.user_id, refused)
        return
    if kind is EventKind.DELETE:
        await client.http.delete_message(event.channel_id, event.message_id)
