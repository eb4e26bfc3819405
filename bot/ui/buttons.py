"""The buttons under pickloop's images.

Every button is a ``DynamicItem``: its custom_id (``pl:<action>:<job id>:<index>``, far below
Discord's 100 characters) carries everything a click needs, so a click on a grid posted before
a restart is understood by the new process with no state kept in memory.

A click does not touch the service here: it hands the request to the bot
(``PickloopBot.answer``), the one place that acknowledges, submits and delivers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.ui.base import Button, bot_of
from bot.ui.edit_buttons import EDIT_ITEMS, VaryRegionButton, add_edit_buttons

if TYPE_CHECKING:
    from bot.core.actor import Actor
    from bot.core.app import App
    from bot.core.jobs.job_view import JobView

JOB = r"(?P<job>[a-z0-9]{1,40})"
INDEX = r"(?P<index>[1-4])"


UPSCALE_ID = re.compile(rf"pl:(?P<how>u|uc):{JOB}:{INDEX}")


class UpscaleButton(discord.ui.DynamicItem[Button], template=UPSCALE_ID):
    """U1–U4: one image of the grid, upscaled, in a message of its own; under an upscale,
    Upscale (Subtle) and Upscale (Creative), which redraws detail at the new size."""

    def __init__(
        self, job_id: str, index: int, label: str | None = None, *, creative: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or f"U{index}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"pl:{'uc' if creative else 'u'}:{job_id}:{index}",
                row=0,
            )
        )
        self.job_id = job_id
        self.index = index
        self.creative = creative

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> UpscaleButton:
        return cls(match["job"], int(match["index"]), creative=match["how"] == "uc")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async def submit(app: App, actor: Actor) -> JobView:
            return await app.service.upscale(actor, self.job_id, self.index, creative=self.creative)

        await bot_of(interaction).answer(interaction, submit)


VARY_ID = re.compile(rf"pl:(?P<how>v|vs):{JOB}:{INDEX}")


class VaryButton(discord.ui.DynamicItem[Button], template=VARY_ID):
    """V1–V4 under a grid (subtle), and Vary (Subtle) / Vary (Strong) under an upscale."""

    def __init__(
        self, job_id: str, index: int, *, strong: bool, label: str | None, row: int
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"pl:{'vs' if strong else 'v'}:{job_id}:{index}",
                row=row,
            )
        )
        self.job_id = job_id
        self.index = index
        self.strong = strong

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> VaryButton:
        # The label is not needed to answer a click; the message keeps showing its own.
        strong = match["how"] == "vs"
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(match["job"], int(match["index"]), strong=strong, label=label, row=0)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async def submit(app: App, actor: Actor) -> JobView:
            return await app.service.vary(actor, self.job_id, self.index, strong=self.strong)

        await bot_of(interaction).answer(interaction, submit)


REROLL_ID = re.compile(rf"pl:r:{JOB}")


class RerollButton(discord.ui.DynamicItem[Button], template=REROLL_ID):
    """🔄: the same prompt and parameters, new seeds."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="🔄",
                style=discord.ButtonStyle.secondary,
                custom_id=f"pl:r:{job_id}",
                row=0,
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RerollButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async def submit(app: App, actor: Actor) -> JobView:
            return await app.service.reroll(actor, self.job_id)

        await bot_of(interaction).answer(interaction, submit)


RATE_ID = re.compile(rf"pl:(?P<how>f|d):{JOB}")
_RATINGS = {"f": "❤️", "d": "👎"}


class RateButton(discord.ui.DynamicItem[Button], template=RATE_ID):
    """❤️ Favourite and 👎 under an upscale: the same signals as the reactions, one click away."""

    def __init__(self, job_id: str, how: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Favourite" if how == "f" else None,
                emoji=_RATINGS[how],
                style=discord.ButtonStyle.secondary,
                custom_id=f"pl:{how}:{job_id}",
                row=1,
            )
        )
        self.job_id = job_id
        self.emoji = _RATINGS[how]

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RateButton:
        return cls(match["job"], match["how"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await bot_of(interaction).rate(interaction, self.job_id, self.emoji)


DYNAMIC_ITEMS: tuple[Any, ...] = (
    UpscaleButton,
    VaryButton,
    RerollButton,
    RateButton,
    *EDIT_ITEMS,
)


def keyboard(view: JobView) -> discord.ui.View:
    """The buttons for a finished job.

    Under a grid: U1–U4 🔄 / V1–V4. Under an upscale: Vary (Subtle), Vary (Strong),
    Vary (Region), Upscale (Subtle), Upscale (Creative) / ❤️ Favourite, 👎 / Zoom Out 2x, 1.5x,
    Custom Zoom (Make Square) / ⬅️ ➡️ ⬆️ ⬇️.
    """
    buttons = discord.ui.View(timeout=None)
    if view.kind == "upscale":
        buttons.add_item(VaryButton(view.job_id, 1, strong=False, label="Vary (Subtle)", row=0))
        buttons.add_item(VaryButton(view.job_id, 1, strong=True, label="Vary (Strong)", row=0))
        buttons.add_item(VaryRegionButton(view.job_id, row=0))
        buttons.add_item(UpscaleButton(view.job_id, 1, label="Upscale (Subtle)"))
        buttons.add_item(UpscaleButton(view.job_id, 1, label="Upscale (Creative)", creative=True))
        buttons.add_item(RateButton(view.job_id, "f"))
        buttons.add_item(RateButton(view.job_id, "d"))
        picture = view.images[0]
        add_edit_buttons(buttons, view.job_id, picture.width == picture.height, first_row=2)
        return buttons
    for image in view.images:
        buttons.add_item(UpscaleButton(view.job_id, image.index))
    buttons.add_item(RerollButton(view.job_id))
    for image in view.images:
        buttons.add_item(
            VaryButton(view.job_id, image.index, strong=False, label=f"V{image.index}", row=1)
        )
    return buttons
