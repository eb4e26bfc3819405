"""From an interaction to a picture in Discord: acknowledge, submit, run, and show the result.

The same path serves ``/imagine`` and every button, so they all keep Discord's 3-second
acknowledgement deadline the same way: the interaction is deferred before the database or the
engine is touched, and the job is waited for in a background task, never inside the handler.
Whichever worker runs the job (this process's or another's), its end is learnt from the
database, and its steps are shown when this process runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.errors import UserError
from bot.core.jobs.job_view import JobView
from bot.core.jobs.progress import Held
from bot.core.worker import QueueWorker
from bot.ui import messages
from bot.ui.base import Interaction, Submit, SubmitAll
from bot.ui.buttons import keyboard
from bot.ui.privacy import welcome
from engine import Progress
from storage.models import JobStatus

log = logging.getLogger(__name__)

Spawn = Callable[[Awaitable[None]], Any]


def actor_of(interaction: Interaction) -> Actor:
    return Actor.discord(interaction.user.id, interaction.user.display_name)


async def answer(
    app: App,
    interaction: Interaction,
    submit: Submit,
    spawn: Spawn,
    worker: QueueWorker | None,
    *,
    queues: bool = True,
    private: bool = False,
) -> None:
    """Acknowledge at once, queue the job, and leave waiting for it to a background task.

    ``queues`` False: the request queues nothing (``/show``), and the job is shown as it
    stands. ``worker``: this process's own worker, if it runs one; whichever process runs the
    job, its end is learnt of from the database.
    """

    async def submit_one(app: App, actor: Actor) -> list[JobView]:
        return [await submit(app, actor)]

    await answer_set(app, interaction, submit_one, spawn, worker, queues=queues, private=private)


async def answer_set(
    app: App,
    interaction: Interaction,
    submit_all: SubmitAll,
    spawn: Spawn,
    worker: QueueWorker | None,
    *,
    queues: bool = True,
    private: bool = False,
) -> None:
    """``answer`` for a request that may queue several jobs (a permutation prompt): the first
    job takes the deferred message, each other one a message of its own, shown and then edited
    as the first is."""
    private = private or interaction.user.id in interaction.client.private_replies
    await interaction.response.defer(thinking=True, ephemeral=private)
    try:
        # Over a cap, nothing is written: the caps are counted where the job is written.
        queued = await submit_all(app, actor_of(interaction))
    except UserError as error:
        await refuse(interaction, str(error))
        return
    except Exception:
        # Not the person's fault, and nothing was queued: say so rather than leave
        # "thinking…" up forever.
        log.exception("could not queue a job for %s", interaction.user.id)
        await refuse(interaction, "Sorry, something went wrong on pickloop's side; try again.")
        return
    if not queues:
        spawn(deliver(app, interaction, queued[0], private=private))
        return
    await _follow(app, interaction, queued[0], spawn, worker, private=private)
    for job in queued[1:]:
        message = await interaction.followup.send(
            messages.waiting(job), ephemeral=private, wait=True
        )
        await _follow(app, interaction, job, spawn, worker, private=private, message=message)


async def _follow(
    app: App,
    interaction: Interaction,
    queued: JobView,
    spawn: Spawn,
    worker: QueueWorker | None,
    *,
    private: bool,
    message: discord.WebhookMessage | None = None,
) -> None:
    """Show the job's place and progress, and leave waiting for its end to a background task;
    in ``message`` (a job of a set), else in the deferred message."""
    progress = ProgressEdits(
        interaction, queued, app.settings.discord_progress_seconds, message=message
    )
    stop_watching = app.progress.watch(queued.job_id, progress)
    try:
        if worker is not None:
            # A job this process can start at once shows no place in line.
            await worker.claimed_round()
        position = await app.queue.position(queued.job_id)
    except Exception:
        stop_watching()
        raise
    if position is not None:
        progress.queued(position)
    spawn(
        deliver(app, interaction, queued, progress, stop_watching, private=private, message=message)
    )


async def rate(app: App, interaction: Interaction, job_id: str, emoji: str) -> None:
    """❤️ / 👎 under an upscale: recorded, and confirmed to the clicker alone."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        view = await app.service.show(job_id)
        if not view.images:
            raise UserError(f"Job {job_id} has no image to rate.")
        await app.service.react(actor_of(interaction), view.images[0].id, emoji)
    except UserError as error:
        await interaction.followup.send(str(error), ephemeral=True)
        return
    await interaction.followup.send(f"{emoji} recorded for job `{job_id}`.", ephemeral=True)


async def refuse(interaction: Interaction, reason: str) -> None:
    """Only the person who asked sees why not; the public "thinking…" message goes away."""
    await interaction.delete_original_response()
    await interaction.followup.send(reason, ephemeral=True)


async def deliver(
    app: App,
    interaction: Interaction,
    queued: JobView,
    progress: ProgressEdits | None = None,
    stop_watching: Callable[[], None] | None = None,
    *,
    private: bool = False,
    message: discord.WebhookMessage | None = None,
) -> None:
    """Wait for the job to end, then replace the "thinking…" message (or ``message``) with its
    picture and buttons. Without ``progress`` (nothing was queued) the job is shown as it
    stands."""
    waits = progress is not None
    progress = progress or ProgressEdits(interaction, queued, app.settings.discord_progress_seconds)
    try:
        if waits:
            await app.watch.finished(queued.job_id)
            await progress.settle()
        view = await app.service.show(queued.job_id)
        if view.status != JobStatus.DONE.value:
            await show(
                interaction, content=messages.unfinished(view), private=private, message=message
            )
            return
        if view.outcome is not None:
            await show(
                interaction, content=messages.outcome(view), private=private, message=message
            )
            return
        picture = await asyncio.to_thread(messages.image_file, view, interaction.filesize_limit)
        posted = await show(
            interaction,
            content=messages.caption(view, interaction.user.id),
            picture=picture,
            buttons=keyboard(view),
            message=message,
        )
        await app.service.posted(
            view.job_id,
            guild_id=interaction.guild_id,
            channel_id=posted.channel.id,
            message_id=posted.id,
        )
    except discord.HTTPException:
        # The job and its images are safe in the database whatever Discord answered;
        # /show brings them back.
        log.exception("could not show job %s in Discord", queued.job_id)
    except Exception:
        log.exception("could not deliver job %s", queued.job_id)
        with contextlib.suppress(discord.HTTPException, LookupError):
            await show(
                interaction,
                content=f"Sorry, something went wrong on pickloop's side with job "
                f"`{queued.job_id}`; it is kept, and /show brings it back once it is done.",
            )
    finally:
        if stop_watching is not None:
            stop_watching()
        await progress.settle()
    # Only now: sent while "thinking…" is up, it would take that message's place.
    await welcome(app, interaction, actor_of(interaction))


# Discord's error codes for an interaction token past its 15 minutes, and for a message that
# is gone (someone deleted the "thinking…" message before the picture came).
INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_MESSAGE = 10008


async def show(
    interaction: Interaction,
    *,
    content: str,
    picture: discord.File | None = None,
    buttons: discord.ui.View | None = None,
    private: bool = False,
    message: discord.WebhookMessage | None = None,
) -> discord.Message:
    """Turn the deferred message into the result; if that message can no longer be edited,
    post the result anew.

    An interaction token lets the bot edit its answer for 15 minutes only, and a big job in a
    long queue outlives that; or the message was deleted meanwhile. The bot token has no such
    limit, so the result then goes to the channel as a new message (which needs the Send
    Messages permission there), or to the person's DMs if they asked for private replies.
    """
    try:
        if message is not None:
            return await message.edit(
                content=content, attachments=[picture] if picture else [], view=buttons
            )
        return await interaction.edit_original_response(
            content=content,
            attachments=[picture] if picture else [],
            view=buttons,
        )
    except discord.HTTPException as error:
        if error.code not in (INVALID_WEBHOOK_TOKEN, UNKNOWN_MESSAGE):
            raise
    if picture is not None:
        picture.reset()
    channel = interaction.channel
    destination: discord.abc.Messageable | None = (
        interaction.user
        if private or interaction.user.id in interaction.client.private_replies
        # Slash commands come from channels one can post in; a forum or a category is not one.
        else channel
        if isinstance(channel, discord.abc.Messageable)
        else None
    )
    if destination is None:
        raise LookupError(f"nowhere to post job results for interaction {interaction.id}")
    return await destination.send(
        content=content,
        file=picture or discord.utils.MISSING,
        view=buttons or discord.utils.MISSING,
    )


class ProgressEdits:
    """The engine's step callback: shows how far the job is, at most once per interval.

    Discord rate-limits edits of one message (about five per five seconds), so most steps
    are not shown; an edit still on its way when the next step comes is not doubled either.
    """

    def __init__(
        self,
        interaction: Interaction,
        view: JobView,
        interval: float,
        *,
        message: discord.WebhookMessage | None = None,
    ) -> None:
        self._interaction = interaction
        self._message = message
        self._view = view
        self._interval = interval
        self._last = asyncio.get_running_loop().time()
        self._pending: asyncio.Task[None] | None = None

    def queued(self, ahead: int) -> None:
        """One edit while the job waits: its place in line (1 is next)."""
        self._last = asyncio.get_running_loop().time()
        self._pending = asyncio.ensure_future(
            self._show(messages.queued(self._view, position=ahead))
        )

    def __call__(self, step: Progress | Held) -> None:
        now = asyncio.get_running_loop().time()
        if isinstance(step, Held):
            # Said once each time it happens, whatever the interval: the job's last line
            # would otherwise be a step that is no longer true.
            self._last = now
            self._pending = asyncio.ensure_future(self._show(messages.held(self._view)))
            return
        if self._pending is not None and not self._pending.done():
            return
        if now - self._last < self._interval:
            return
        self._last = now
        self._pending = asyncio.ensure_future(
            self._show(messages.in_progress(self._view, step.step, step.total))
        )

    async def _show(self, content: str) -> None:
        try:
            if self._message is not None:
                await self._message.edit(content=content)
            else:
                await self._interaction.edit_original_response(content=content)
        except discord.HTTPException as error:
            # A progress line is not worth a retry; the result is edited in any case.
            log.info("progress of job %s not shown: %s", self._view.job_id, error)

    async def settle(self) -> None:
        """Let the last progress edit land, so that it cannot overwrite the result."""
        if self._pending is not None:
            await asyncio.gather(self._pending, return_exceptions=True)
