"""The bot as Discord features see it, typed: the application it serves, this process's
worker, who asked for private replies, and the two ways a feature asks for a job.

``PickloopBot`` (``bot.ui.client``) is the one implementation; it imports every feature, so
the features know it by this class instead, and their interactions are
``Interaction`` (``discord.Interaction`` of this client), whose ``client`` mypy checks.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.jobs.job_view import JobView
from bot.core.worker import QueueWorker

log = logging.getLogger(__name__)

# What a command or a click asks the application for, once acknowledged.
Submit = Callable[[App, Actor], Awaitable[JobView]]
# What a request that queues several jobs at once asks for (a permutation prompt).
SubmitAll = Callable[[App, Actor], Awaitable[list[JobView]]]


class PickloopClient(discord.Client, abc.ABC):
    def __init__(self, app: App, *, runs_jobs: bool, intents: discord.Intents) -> None:
        super().__init__(intents=intents)
        self.app = app
        self.worker: QueueWorker | None = (
            QueueWorker(app, capacity=app.settings.jobs_at_once) if runs_jobs else None
        )
        # Who chose private replies (/settings), known without a database read, so that an
        # answer can be acknowledged privately at once.
        self.private_replies: set[int] = set()
        # Strong references: the event loop keeps only weak ones to running tasks.
        self._background: set[asyncio.Task[None]] = set()

    @abc.abstractmethod
    async def answer(
        self, interaction: Interaction, submit: Submit, *, run: bool = True, private: bool = False
    ) -> None:
        """The one way a command or a click asks for a job (see ``bot.ui.delivery``)."""

    @abc.abstractmethod
    async def answer_set(self, interaction: Interaction, submit_all: SubmitAll) -> None:
        """``answer`` for several jobs at once, each shown in a message of its own."""

    @abc.abstractmethod
    async def rate(self, interaction: Interaction, job_id: str, emoji: str) -> None:
        """❤️ / 👎 under an upscale, recorded for the clicker."""

    def prefer_private_replies(self, discord_id: int, private: bool) -> None:
        if private:
            self.private_replies.add(discord_id)
        else:
            self.private_replies.discard(discord_id)

    def in_background(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())


Interaction = discord.Interaction[PickloopClient]
# The buttons under pickloop's messages: persistent ones (``discord.ui.DynamicItem``) carry
# everything they need in their custom id, not in a view object kept in memory.
Button = discord.ui.Button[discord.ui.View]


def bot_of(interaction: discord.Interaction[Any]) -> PickloopClient:
    """The bot an interaction came to, typed: for the library's callbacks (buttons), which are
    declared for any client."""
    client = interaction.client
    if not isinstance(client, PickloopClient):
        raise TypeError(f"an interaction for {type(client).__name__}, not pickloop's bot")
    return client
