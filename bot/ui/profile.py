"""``/profile``: a person's profile (``--p``): how far it is, sharing it and revoking a share.

Every answer is ephemeral: a profile is its owner's business, and a share code is theirs to
hand out.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.core.errors import UserError
from bot.core.models.profiles import ProfileStatus
from bot.ui.base import Interaction
from bot.ui.delivery import actor_of


def describe(status: ProfileStatus) -> str:
    """A person's profile in a few lines (``/profile``, and the end of ``/info``)."""
    if status.trained:
        changed = discord.utils.format_dt(status.changed_at, "R") if status.changed_at else ""
        state = f"trained; it last changed {changed}. Draw with it: `--p`"
    elif status.under_way == "training":
        state = "your first one is being trained"
    elif status.under_way == "testing":
        state = "your first one is being tested on some of your grids"
    else:
        state = "not trained yet"
    lines = [
        f"**Your profile**: {state}.",
        f"• signals given (U-clicks, reactions, /rate answers): {status.signals}",
    ]
    if status.under_way is None:
        lines.append(
            f"• the next training starts at {status.next_training_at} signals "
            f"({status.more_needed} more)"
        )
    else:
        lines.append(f"• a new version is being {status.under_way.replace('testing', 'tested')}")
    lines.append(f"• `--p` by default: {'on' if status.default_on else 'off'} (`/settings`)")
    if status.shares:
        lines.append("• shared with the codes " + ", ".join(f"`{c}`" for c in status.shares))
    return "\n".join(lines)


async def show(interaction: Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    status = await interaction.client.app.profiles.status(actor_of(interaction))
    await interaction.edit_original_response(
        content=describe(status)
        + "\nIt is trained from your own signals only, never exported, and deleted with "
        "`/privacy delete`."
    )


async def share(interaction: Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        code = await interaction.client.app.profiles.share(actor_of(interaction))
    except UserError as error:
        await interaction.edit_original_response(content=str(error))
        return
    await interaction.edit_original_response(
        content=f"Share code: `{code}`. Anyone who adds `--p {code}` to a prompt draws with your "
        "profile; the code does not tell them it is yours. `/profile revoke` stops it."
    )


async def revoke(interaction: Interaction, code: str) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        await interaction.client.app.profiles.revoke(actor_of(interaction), code)
    except UserError as error:
        await interaction.edit_original_response(content=str(error))
        return
    await interaction.edit_original_response(content=f"`{code.strip()}` works no more.")


def profile_command() -> app_commands.Group:
    # Built by calling, as /imagine is (see bot.ui.imagine).
    group = app_commands.Group(
        name="profile", description="Your profile (--p): how far it is, and sharing it."
    )
    callbacks: list[tuple[str, str, Any]] = [
        ("show", "How far your profile is, and how many more signals it needs.", show),
        ("share", "A code others can draw with your profile by (--p CODE).", share),
        (
            "revoke",
            "Stop one of your share codes from working.",
            app_commands.describe(code="The share code to revoke")(revoke),
        ),
    ]
    for name, description, callback in callbacks:
        group.add_command(
            app_commands.Command(name=name, description=description, callback=callback)
        )
    return group
