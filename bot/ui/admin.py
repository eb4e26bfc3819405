"""``/admin queue|cancel|block|unblock``: moderation, for people who may manage the server.

Discord shows the group only to people with Manage Server (a server can change that in its
integration settings), but that is a convenience: every command and every Cancel click is
checked again by ``bot.core.moderation.server``, which also knows the admins listed in
PICKLOOP_ADMIN_IDS.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import discord
from discord import app_commands
from pydantic import ValidationError

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.data.exports import EXPORT_FORMATS
from bot.core.errors import PermissionDenied, UserError
from bot.core.jobs.job_view import JobView
from bot.core.moderation.server import QueuedJob
from bot.ui.base import Button, Interaction, PickloopClient, bot_of
from bot.ui.buttons import JOB
from bot.ui.delivery import actor_of
from bot.ui.messages import excerpt, standing
from engine.train.options import TrainingOptions, options_problem

# The list shows this many jobs; each queued one gets a Cancel button (Discord allows 25).
SHOWN = 20

Reply = tuple[str, discord.ui.View | None]


def _manages_server(interaction: Interaction) -> bool:
    return bool(interaction.permissions.manage_guild)


async def _queue_reply(interaction: Interaction, note: str = "") -> Reply:
    bot = bot_of(interaction)
    jobs = await bot.app.moderation.queue(
        actor_of(interaction),
        manages_server=_manages_server(interaction),
    )
    return describe_queue(jobs, note), cancel_buttons(jobs)


def describe_queue(jobs: list[QueuedJob], note: str = "") -> str:
    lines = [note] if note else []
    lines.append(f"**Queue**: {len(jobs)} unfinished job{'s' if len(jobs) != 1 else ''}")
    for number, job in enumerate(jobs[:SHOWN], start=1):
        where = standing(job.status, job.position)
        owner = discord.utils.escape_markdown(job.owner)
        lines.append(f"{number}. `{job.job_id}` {where} · {owner}: {excerpt(job.prompt)}")
    if len(jobs) > SHOWN:
        lines.append(f"… and {len(jobs) - SHOWN} more.")
    return "\n".join(lines)


def cancel_buttons(jobs: list[QueuedJob]) -> discord.ui.View | None:
    buttons = discord.ui.View(timeout=None)
    for number, job in enumerate(jobs[:SHOWN], start=1):
        if job.status == "queued":
            buttons.add_item(CancelJobButton(job.job_id, number))
    return buttons if buttons.children else None


CANCEL_ID = re.compile(rf"pl:x:{JOB}")


class CancelJobButton(discord.ui.DynamicItem[Button], template=CANCEL_ID):
    """Cancel under a job in /admin queue; the click is checked like the command."""

    def __init__(self, job_id: str, number: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Cancel {number}" if number is not None else "Cancel",
                style=discord.ButtonStyle.danger,
                custom_id=f"pl:x:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelJobButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # Acknowledged as an update of the list this button is on, which is then redrawn.
        await interaction.response.defer()
        bot = bot_of(interaction)
        try:
            await bot.app.moderation.cancel(
                actor_of(interaction),
                self.job_id,
                manages_server=_manages_server(interaction),
            )
            bot.app.watch.news()
            note = f"Cancelled job `{self.job_id}`."
        except PermissionDenied as error:
            await interaction.followup.send(str(error), ephemeral=True)
            return
        except UserError as error:
            note = str(error)
        content, buttons = await _queue_reply(interaction, note)
        await interaction.edit_original_response(content=content, view=buttons)


async def _answer(
    interaction: Interaction, act: Callable[[PickloopClient, Actor, bool], Awaitable[Reply]]
) -> None:
    """Acknowledge privately before any database work, act, and say what happened."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        content, buttons = await act(
            bot_of(interaction), actor_of(interaction), _manages_server(interaction)
        )
    except UserError as error:
        content, buttons = str(error), None
    await interaction.edit_original_response(
        content=content,
        view=buttons,
        allowed_mentions=discord.AllowedMentions.none(),
    )


async def queue(interaction: Interaction) -> None:
    async def act(bot: PickloopClient, actor: Actor, manages_server: bool) -> Reply:
        return await _queue_reply(interaction)

    await _answer(interaction, act)


async def cancel(interaction: Interaction, job_id: str) -> None:
    wanted = job_id.strip().lower()

    async def act(bot: PickloopClient, actor: Actor, manages_server: bool) -> Reply:
        await bot.app.moderation.cancel(actor, wanted, manages_server=manages_server)
        bot.app.watch.news()
        return f"Cancelled job `{wanted}`.", None

    await _answer(interaction, act)


async def block(interaction: Interaction, user: discord.User) -> None:
    person = Actor.discord(user.id, user.display_name)

    async def act(bot: PickloopClient, actor: Actor, manages_server: bool) -> Reply:
        cancelled = await bot.app.moderation.block(actor, person, manages_server=manages_server)
        bot.app.watch.news()
        name = discord.utils.escape_markdown(user.display_name)
        jobs = f" {len(cancelled)} queued job(s) of theirs cancelled." if cancelled else ""
        return f"Blocked **{name}** from using pickloop.{jobs}", None

    await _answer(interaction, act)


async def unblock(interaction: Interaction, user: discord.User) -> None:
    person = Actor.discord(user.id, user.display_name)

    async def act(bot: PickloopClient, actor: Actor, manages_server: bool) -> Reply:
        changed = await bot.app.moderation.unblock(actor, person, manages_server=manages_server)
        name = discord.utils.escape_markdown(user.display_name)
        if not changed:
            return f"**{name}** was not blocked.", None
        return f"**{name}** may use pickloop again.", None

    await _answer(interaction, act)


async def export(interaction: Interaction, format: str) -> None:
    """Queued as a job: the answer says where the export went once a worker has made it."""
    manages_server = _manages_server(interaction)

    async def submit(app: App, actor: Actor) -> JobView:
        app.moderation.check(actor, manages_server=manages_server)
        return await app.data_jobs.export(actor, format)

    await bot_of(interaction).answer(interaction, submit, private=True)


async def train(
    interaction: Interaction, method: str, export: str | None = None, steps: int | None = None
) -> None:
    """Queued as a job on the newest export of the method's layout, or on the one named."""
    manages_server = _manages_server(interaction)

    async def submit(app: App, actor: Actor) -> JobView:
        app.moderation.check(actor, manages_server=manages_server)
        data = str(app.data_jobs.export_named(export)) if export else None
        asked = {"method": method} | ({"steps": steps} if steps is not None else {})
        try:
            options = TrainingOptions.model_validate(asked)
        except ValidationError as error:
            raise UserError(options_problem(error)) from None
        return await app.data_jobs.fine_tune(actor, options, data=data)

    await bot_of(interaction).answer(interaction, submit, private=True)


def admin_group() -> app_commands.Group:
    # Built by calling, as /imagine is (see bot.ui.imagine).
    group = app_commands.Group(
        name="admin",
        description="Moderate pickloop on this server.",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    commands: list[tuple[str, str, Callable[..., Coroutine[Any, Any, None]], dict[str, str]]] = [
        ("queue", "See the queued and running jobs, and cancel queued ones.", queue, {}),
        ("cancel", "Cancel a queued job.", cancel, {"job_id": "The job id"}),
        ("block", "Block someone from using pickloop.", block, {"user": "Who"}),
        ("unblock", "Let a blocked person use pickloop again.", unblock, {"user": "Who"}),
        (
            "export",
            "Export the preference data as a Hugging Face dataset, on the server.",
            app_commands.choices(
                format=[app_commands.Choice(name=name, value=name) for name in EXPORT_FORMATS]
            )(export),
            {"format": "pairs (Diffusion-DPO), kto, or rankings (lossless)"},
        ),
        (
            "train",
            "Fine-tune a LoRA adapter of the model on an export, on the server.",
            app_commands.choices(
                method=[app_commands.Choice(name=name, value=name) for name in ("dpo", "kto")]
            )(train),
            {
                "method": "dpo (on a pairs export) or kto (on a kto export)",
                "export": "The export's folder name (default: the newest of its layout)",
                "steps": "Training steps (default 200)",
            },
        ),
    ]
    for name, description, callback, options in commands:
        described = app_commands.describe(**options)(callback) if options else callback
        group.add_command(
            app_commands.Command(name=name, description=description, callback=described)
        )
    return group
