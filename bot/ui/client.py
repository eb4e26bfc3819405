"""The Discord client: slash commands, persistent buttons, and the jobs it is delivering."""

from __future__ import annotations

import hashlib
import json
import logging

import aiohttp
import discord
from discord import app_commands

from bot.config import Settings
from bot.core.app import App, open_app
from bot.ui import delivery, reactions
from bot.ui.admin import CancelJobButton, admin_group
from bot.ui.base import Interaction, PickloopClient, Submit, SubmitAll
from bot.ui.buttons import DYNAMIC_ITEMS
from bot.ui.imagine import ConfirmSetButton, blend_command, imagine_command
from bot.ui.info import info_command
from bot.ui.privacy import DeleteMyDataButton, privacy_command
from bot.ui.profile import profile_command
from bot.ui.rate import PairButton, rate_command
from bot.ui.settings import settings_command
from bot.ui.show import show_command

log = logging.getLogger(__name__)


class DiscordUnreachable(Exception):
    """Discord could not be reached at all (no network, a proxy or firewall in the way)."""


class TokenRejected(Exception):
    """Discord refused the bot token."""


def intents() -> discord.Intents:
    # Slash commands and buttons arrive as interactions, which need no intent at all; guilds
    # lets the library know its channels, reactions are how people rate images. No message
    # content, no members, no presences: nothing privileged.
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_reactions = True
    wanted.dm_reactions = True
    return wanted


class PickloopBot(PickloopClient):
    def __init__(self, app: App, *, runs_jobs: bool = True) -> None:
        """``runs_jobs`` False: this bot only accepts requests and delivers results; other
        processes (``pickloop worker``) run the jobs."""
        super().__init__(app, runs_jobs=runs_jobs, intents=intents())
        self.tree: app_commands.CommandTree[PickloopBot] = app_commands.CommandTree(self)
        self.tree.add_command(imagine_command())
        self.tree.add_command(blend_command())
        self.tree.add_command(show_command())
        self.tree.add_command(rate_command())
        self.tree.add_command(settings_command())
        self.tree.add_command(info_command())
        self.tree.add_command(admin_group())
        self.tree.add_command(privacy_command())
        self.tree.add_command(profile_command())

    async def setup_hook(self) -> None:
        self.add_dynamic_items(
            *DYNAMIC_ITEMS, CancelJobButton, PairButton, DeleteMyDataButton, ConfirmSetButton
        )
        self.private_replies = await self.app.preferences.private_discord_ids()
        await self.sync_commands()
        # Its first sweep hands the jobs of a crashed or restarted process back to the queue,
        # where they wait their turn like any other job; /show brings them back once done.
        if self.worker is not None:
            self.in_background(self.worker.work())

    async def sync_commands(self) -> None:
        """Register the slash commands with Discord, only when they changed since last time.

        Discord rate-limits command registration hard; a bot restarted often must not spend it.
        With PICKLOOP_DISCORD_GUILD set, commands go to that one server, where updates show at
        once (global ones can take a while to reach every client).
        """
        guild = (
            discord.Object(id=self.app.settings.discord_guild)
            if self.app.settings.discord_guild
            else None
        )
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        fingerprint = hashlib.sha256(
            json.dumps(
                {"application": self.application_id, "guild": guild and guild.id, "c": payload},
                sort_keys=True,
            ).encode()
        ).hexdigest()
        marker = self.app.settings.data_dir / "discord-commands.sha256"
        if marker.is_file() and marker.read_text().strip() == fingerprint:
            log.info("slash commands unchanged; not syncing")
            return
        await self.tree.sync(guild=guild)
        marker.write_text(fingerprint + "\n")
        log.info("slash commands synced %s", f"to guild {guild.id}" if guild else "globally")

    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        await reactions.on_reaction(self.app, self, event)

    async def answer(
        self, interaction: Interaction, submit: Submit, *, run: bool = True, private: bool = False
    ) -> None:
        await delivery.answer(
            self.app,
            interaction,
            submit,
            self.in_background,
            self.worker,
            queues=run,
            private=private,
        )

    async def answer_set(self, interaction: Interaction, submit_all: SubmitAll) -> None:
        await delivery.answer_set(
            self.app, interaction, submit_all, self.in_background, self.worker
        )

    async def rate(self, interaction: Interaction, job_id: str, emoji: str) -> None:
        await delivery.rate(self.app, interaction, job_id, emoji)


async def run_bot(settings: Settings, token: str, *, runs_jobs: bool = True) -> None:
    """Serve Discord until the process is stopped; TokenRejected when Discord refuses the token."""
    # The library's own log (connections, rate limits, errors in handlers) on stderr.
    discord.utils.setup_logging()
    async with open_app(settings, run_own_jobs=False) as app:
        # A model that cannot load stops the bot here, in one line, rather than at every
        # /imagine.
        await app.service.ensure_default_model()
        client = PickloopBot(app, runs_jobs=runs_jobs)
        async with client:
            try:
                await client.start(token)
            except discord.LoginFailure as error:
                raise TokenRejected(str(error)) from None
            except (aiohttp.ClientConnectionError, discord.GatewayNotFound, OSError) as error:
                # Before the first connection: once connected, discord.py reconnects itself.
                log.debug("cannot reach Discord", exc_info=True)
                reason = " ".join(str(error).split()) or type(error).__name__
                raise DiscordUnreachable(reason) from error
