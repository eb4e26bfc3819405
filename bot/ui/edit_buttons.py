"""The tools under an upscaled picture: Zoom Out 2x and 1.5x, Custom Zoom, Pan ⬅️ ➡️ ⬆️ ⬇️,
Make Square and Vary (Region).

Buttons are ``DynamicItem`` s (``pl:e:<tool>:<job>``, ``pl:cz:<job>``, ``pl:vr:<job>``), as the
other buttons, so they answer after a restart. Custom Zoom asks for a factor and a new prompt in
a modal; Vary (Region) offers the regions in a select menu (Discord has no canvas to paint a
mask on: halves, the centre, nine cells, several at once), then asks for an optional new prompt
in a modal. A modal lives only while it is open: one left open across a restart is refused by
Discord, and the person clicks the button again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.core.errors import UserError
from bot.core.jobs.edits import EditRequest
from bot.ui.base import Button, bot_of
from engine.canvas import REGIONS

if TYPE_CHECKING:
    from bot.core.actor import Actor
    from bot.core.app import App
    from bot.core.jobs.job_view import JobView

JOB = r"(?P<job>[a-z0-9]{1,40})"

# Each one-click tool: its custom id's code, its label or emoji, and what it asks.
_ONE_CLICK: dict[str, tuple[str | None, str | None, EditRequest]] = {
    "z2": ("Zoom Out 2x", "🔍", EditRequest("zoom_out", zoom=2.0)),
    "z15": ("Zoom Out 1.5x", "🔍", EditRequest("zoom_out", zoom=1.5)),
    "pl": (None, "⬅️", EditRequest("pan", direction="left")),
    "pr": (None, "➡️", EditRequest("pan", direction="right")),
    "pu": (None, "⬆️", EditRequest("pan", direction="up")),
    "pd": (None, "⬇️", EditRequest("pan", direction="down")),
    "sq": ("Make Square", "↔️", EditRequest("make_square")),
}
EDIT_ID = re.compile(rf"pl:e:(?P<tool>{'|'.join(_ONE_CLICK)}):{JOB}")


async def _edited(
    interaction: discord.Interaction[Any], job_id: str, asked: Callable[[], EditRequest]
) -> None:
    """Ask for the edit of an upscale's picture; ``asked`` is read once the click is
    acknowledged, so that what it refuses reaches the clicker as any refusal does."""

    async def submit(app: App, actor: Actor) -> JobView:
        return await app.service.edit(actor, job_id, 1, asked())

    await bot_of(interaction).answer(interaction, submit)


class EditButton(discord.ui.DynamicItem[Button], template=EDIT_ID):
    """A tool that needs nothing more than its click: zoom out 2x or 1.5x, a pan, make square."""

    def __init__(self, job_id: str, tool: str, row: int) -> None:
        label, emoji, _ = _ONE_CLICK[tool]
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=discord.ButtonStyle.secondary,
                custom_id=f"pl:e:{tool}:{job_id}",
                row=row,
            )
        )
        self.job_id = job_id
        self.tool = tool

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> EditButton:
        return cls(match["job"], match["tool"], row=0)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _edited(interaction, self.job_id, lambda: _ONE_CLICK[self.tool][2])


def _new_prompt() -> discord.ui.TextInput[Any]:
    return discord.ui.TextInput(
        label="New prompt (empty: keep the picture's)",
        style=discord.TextStyle.paragraph,
        required=False,
        max_length=1000,
    )


class CustomZoomModal(discord.ui.Modal, title="Custom Zoom"):
    def __init__(self, job_id: str) -> None:
        super().__init__(custom_id=f"pl:czm:{job_id}")
        self.job_id = job_id
        self.factor: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Zoom out by (1.1 to 2)", default="2", max_length=8
        )
        self.prompt = _new_prompt()
        self.add_item(self.factor)
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        factor, prompt = self.factor.value, self.prompt.value.strip() or None

        def asked() -> EditRequest:
            try:
                zoom = float(factor.replace(",", "."))
            except ValueError:
                raise UserError(f"Zoom out by a number from 1.1 to 2, not {factor!r}.") from None
            return EditRequest("zoom_out", zoom=zoom, prompt=prompt)

        await _edited(interaction, self.job_id, asked)


CUSTOM_ZOOM_ID = re.compile(rf"pl:cz:{JOB}")


class CustomZoomButton(discord.ui.DynamicItem[Button], template=CUSTOM_ZOOM_ID):
    def __init__(self, job_id: str, row: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Custom Zoom",
                emoji="🔍",
                style=discord.ButtonStyle.secondary,
                custom_id=f"pl:cz:{job_id}",
                row=row,
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CustomZoomButton:
        return cls(match["job"], row=0)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_modal(CustomZoomModal(self.job_id))


class RegionPromptModal(discord.ui.Modal, title="Vary (Region)"):
    def __init__(self, job_id: str, regions: tuple[str, ...]) -> None:
        super().__init__(custom_id=f"pl:vrm:{job_id}")
        self.job_id = job_id
        self.regions = regions
        self.prompt = _new_prompt()
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        prompt = self.prompt.value.strip() or None
        await _edited(
            interaction,
            self.job_id,
            lambda: EditRequest("vary_region", regions=self.regions, prompt=prompt),
        )


_REGION_LABELS = {name: name.replace("-", " ").capitalize() for name in REGIONS}
REGION_SELECT_ID = re.compile(rf"pl:vrs:{JOB}")


class RegionSelect(
    discord.ui.DynamicItem[discord.ui.Select[discord.ui.View]], template=REGION_SELECT_ID
):
    """The regions to redraw, one or several; choosing them opens the prompt's modal."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"pl:vrs:{job_id}",
                placeholder="What to redraw",
                min_values=1,
                max_values=len(REGIONS),
                options=[
                    discord.SelectOption(label=_REGION_LABELS[name], value=name) for name in REGIONS
                ],
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RegionSelect:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        regions = tuple(self.item.values)
        await interaction.response.send_modal(RegionPromptModal(self.job_id, regions))


VARY_REGION_ID = re.compile(rf"pl:vr:{JOB}")


class VaryRegionButton(discord.ui.DynamicItem[Button], template=VARY_REGION_ID):
    """Vary (Region): shows its clicker, privately, the regions to choose from."""

    def __init__(self, job_id: str, row: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Vary (Region)",
                style=discord.ButtonStyle.secondary,
                custom_id=f"pl:vr:{job_id}",
                row=row,
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> VaryRegionButton:
        return cls(match["job"], row=0)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        choose = discord.ui.View(timeout=None)
        choose.add_item(RegionSelect(self.job_id))
        await interaction.response.send_message(
            "Which part of the picture should be drawn again?", view=choose, ephemeral=True
        )


EDIT_ITEMS: tuple[Any, ...] = (EditButton, CustomZoomButton, VaryRegionButton, RegionSelect)


def add_edit_buttons(buttons: discord.ui.View, job_id: str, square: bool, first_row: int) -> None:
    """The tools' buttons under an upscale: zooms (and Make Square for a picture that is not
    square) on one row, the four pans on the next."""
    buttons.add_item(EditButton(job_id, "z2", first_row))
    buttons.add_item(EditButton(job_id, "z15", first_row))
    buttons.add_item(CustomZoomButton(job_id, first_row))
    if not square:
        buttons.add_item(EditButton(job_id, "sq", first_row))
    for tool in ("pl", "pr", "pu", "pd"):
        buttons.add_item(EditButton(job_id, tool, first_row + 1))
