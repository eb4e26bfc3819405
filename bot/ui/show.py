"""``/show job_id``: a job posted again with its buttons, e.g. when its message was deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from discord import app_commands

from bot.ui.base import Interaction

if TYPE_CHECKING:
    from bot.core.actor import Actor
    from bot.core.app import App
    from bot.core.jobs.job_view import JobView


async def show(interaction: Interaction, job_id: str) -> None:
    async def submit(app: App, actor: Actor) -> JobView:
        return await app.service.show(job_id.strip().lower())

    # The same path as a new job, minus running it: whoever runs a job delivers it.
    await interaction.client.answer(interaction, submit, run=False)


def show_command() -> app_commands.Command[Any, ..., None]:
    # Built by calling, as /imagine is (see bot.ui.imagine).
    described = app_commands.describe(job_id="The job id, as shown under each picture")(show)
    return app_commands.Command(
        name="show",
        description="Post a job again, with its buttons.",
        callback=described,
    )
