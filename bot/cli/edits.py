"""The tools under an upscaled picture, from the terminal: zoom, pan, square, vary-region."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from bot.cli.common import (
    IndexArgument,
    JobArgument,
    JsonOption,
    UserOption,
    WaitOption,
    acting_person,
    fail,
    read_settings,
)
from bot.cli.job_reports import produce
from bot.core.errors import UserError
from bot.core.jobs.edits import EditRequest
from engine.canvas import REGIONS

commands = typer.Typer()

PromptOption = Annotated[
    str | None,
    typer.Option("--prompt", help="A new prompt for the grid (default: the picture's own)."),
]


def _edit(
    job: str,
    index: int,
    asked: Callable[[], EditRequest],
    user: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    actor = acting_person(read_settings(), user)
    try:
        # Refused before anything is opened, loaded or written.
        edit = asked()
    except UserError as error:
        fail(str(error), 2)
    produce(as_json, lambda opened: opened.service.edit(actor, job, index, edit), wait=wait)


@commands.command()
def zoom(
    job: JobArgument,
    index: IndexArgument,
    factor: Annotated[
        float, typer.Option("--factor", help="How far to zoom out: 1.1 to 2 (Zoom Out 2x).")
    ] = 2.0,
    prompt: PromptOption = None,
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Zoom out of image INDEX: a grid with the picture smaller in the middle and a new border
    drawn around it (like Zoom Out 2x, 1.5x, Custom Zoom); records the click."""
    _edit(
        job, index, lambda: EditRequest("zoom_out", zoom=factor, prompt=prompt), user, wait, as_json
    )


@commands.command()
def pan(
    job: JobArgument,
    index: IndexArgument,
    direction: Annotated[str, typer.Argument(help="left, right, up or down.")],
    prompt: PromptOption = None,
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Pan image INDEX: a grid with the canvas grown by half on that side and the picture
    continued there (like ⬅️ ➡️ ⬆️ ⬇️); records the click."""
    _edit(
        job,
        index,
        lambda: EditRequest("pan", direction=direction, prompt=prompt),  # type: ignore[arg-type]
        user,
        wait,
        as_json,
    )


@commands.command()
def square(
    job: JobArgument,
    index: IndexArgument,
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Make image INDEX square: a grid with the picture in the middle and the rest drawn
    (like Make Square, for a picture that is not square); records the click."""
    _edit(job, index, lambda: EditRequest("make_square"), user, wait, as_json)


@commands.command(name="vary-region")
def vary_region(
    job: JobArgument,
    index: IndexArgument,
    region: Annotated[
        list[str],
        typer.Option("--region", help=f"What to redraw (again for several): {', '.join(REGIONS)}."),
    ],
    prompt: PromptOption = None,
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Redraw a region of image INDEX and keep the rest (like Vary (Region)); records the
    click."""
    _edit(
        job,
        index,
        lambda: EditRequest("vary_region", regions=tuple(region), prompt=prompt),
        user,
        wait,
        as_json,
    )
