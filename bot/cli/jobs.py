"""Commands on jobs and their pictures: imagine, upscale, vary, reroll, react, rate, show, jobs."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from bot.core.errors import UserError
from bot.core.jobs.image_prompts import Upload, check_upload_size, read_uploads
from bot.core.jobs.job_view import JobView
from bot.core.jobs.permutations import expand
from bot.core.jobs.prompt import PromptLimits, parse_prompt

if TYPE_CHECKING:
    from bot.core.app import App
    from bot.core.jobs.story import Signal
from bot.cli.common import (
    IndexArgument,
    JobArgument,
    JsonOption,
    UserOption,
    WaitOption,
    acting_person,
    fail,
    plain,
    printable,
    read_settings,
    run_app,
)
from bot.cli.job_reports import print_view, produce, produce_all

commands = typer.Typer()


@commands.command()
def imagine(
    prompt: Annotated[
        str,
        typer.Argument(
            help='The prompt, e.g. "a lighthouse at dusk --ar 16:9"; with --image it may be '
            "left out."
        ),
    ] = "",
    image: Annotated[
        list[Path] | None,
        typer.Option(
            "--image",
            help="A picture the grid starts from (an image prompt; --iw 0-3 in the prompt says "
            "how much it counts). Give 2 to 5 to blend them.",
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Make every grid of a prompt that makes many without asking."),
    ] = False,
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Make a 2x2 grid from a prompt and say where it is; "a {red, blue} circle --repeat 2"
    makes one grid for each prompt it stands for."""
    settings = read_settings()
    actor = acting_person(settings, user)
    try:
        # Refuse malformed parameters and pictures before anything is opened, loaded or written.
        uploads = [_upload(path, settings.max_upload_bytes) for path in image or []]
        prompts = expand(prompt, settings.max_prompts_at_once)
        for each in prompts:
            limits = PromptLimits(settings.max_steps, settings.max_guidance)
            parse_prompt(each, limits, images=len(uploads))
        read_uploads(uploads, settings.max_upload_bytes)
        if len(prompts) > settings.ask_above_prompts and not yes:
            raise UserError(f"This prompt makes {len(prompts)} grids; add --yes to make them all.")
    except UserError as error:
        fail(str(error), 2)
    produce_all(
        as_json,
        lambda opened: opened.service.imagine_all(actor, prompt, confirmed=yes, images=uploads),
        wait=wait,
    )


def _upload(path: Path, max_bytes: int) -> Upload:
    """A file given with --image, weighed before it is read."""
    try:
        check_upload_size(path.name, path.stat().st_size, max_bytes)
        return Upload(path.name, path.read_bytes())
    except OSError as error:
        raise UserError(f"Cannot read {path}: {error.strerror or error}.") from None


@commands.command()
def upscale(
    job: JobArgument,
    index: IndexArgument,
    creative: Annotated[
        bool,
        typer.Option(
            "--creative/--subtle", help="Redraw detail at the new size (Upscale (Creative))."
        ),
    ] = False,
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Upscale image INDEX of a grid (like U1-U4, or Upscale (Subtle) / (Creative) under an
    upscale); records the click."""
    actor = acting_person(read_settings(), user)
    produce(
        as_json,
        lambda opened: opened.service.upscale(actor, job, index, creative=creative),
        wait=wait,
    )


@commands.command()
def vary(
    job: JobArgument,
    index: IndexArgument,
    strong: Annotated[
        bool, typer.Option("--strong/--subtle", help="How far variations go.")
    ] = False,
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Make a grid of variations of image INDEX (like V1-V4); records the click."""
    actor = acting_person(read_settings(), user)
    produce(
        as_json, lambda opened: opened.service.vary(actor, job, index, strong=strong), wait=wait
    )


@commands.command()
def reroll(
    job: JobArgument, user: UserOption = None, wait: WaitOption = True, as_json: JsonOption = False
) -> None:
    """Make a new grid from the same prompt with new seeds (like 🔄); records the click."""
    actor = acting_person(read_settings(), user)
    produce(as_json, lambda opened: opened.service.reroll(actor, job), wait=wait)


@commands.command()
def react(
    image: Annotated[str, typer.Argument(help="An image id, as printed by imagine or show.")],
    emoji: Annotated[
        str, typer.Argument(help="❤️ ⭐ 👍 👎 ❌, or heart, star, like, dislike, delete.")
    ],
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a reaction to an image."""
    actor = acting_person(read_settings(), user)
    event = run_app(lambda opened: opened.service.react(actor, image, emoji))
    if as_json:
        print(json.dumps(event))
    else:
        print(f"recorded {event['kind']} on image {event['image_id']} of job {event['job_id']}")


@commands.command()
def rate(
    left: Annotated[
        str | None, typer.Argument(help="The left image id, as printed by rate alone.")
    ] = None,
    right: Annotated[str | None, typer.Argument(help="The right image id.")] = None,
    choice: Annotated[
        str | None, typer.Argument(help="Which is better: left, right, tie or skip.")
    ] = None,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two pictures of one prompt (like /rate), or record LEFT RIGHT CHOICE.

    Alone it prints the prompt, the two image ids and their files; with LEFT RIGHT CHOICE
    (left, right, tie or skip) it records which one is better.
    """
    from bot.core.people.rating import Choice

    given = [value for value in (left, right, choice) if value is not None]
    if len(given) not in (0, 3):
        fail("give LEFT RIGHT CHOICE to answer, or nothing to see the next pair", 2)
    actor = acting_person(read_settings(), user)
    if not given:
        pair = run_app(lambda opened: opened.rating.next_pair(actor))
        if pair is None:
            outcome: dict[str, Any] = {"pair": None}
            text = "Nothing left to rate; make more with `pickloop imagine` first."
        else:
            outcome = {
                "prompt": pair.prompt,
                "left": asdict(pair.left),
                "right": asdict(pair.right),
            }
            text = (
                f"{printable(pair.prompt)}\n  left:  {pair.left.id}  {pair.left.path}\n"
                f"  right: {pair.right.id}  {pair.right.path}\n"
                f"answer: pickloop rate {pair.left.id} {pair.right.id} left|right|tie|skip"
            )
        print(json.dumps(outcome) if as_json else text)
        return
    try:
        picked = Choice((choice or "").strip().lower())
    except ValueError:
        fail(f"{choice!r} is not a choice; use left, right, tie or skip", 2)
    rated = run_app(lambda opened: opened.rating.record(actor, left or "", right or "", picked))
    if as_json:
        print(json.dumps(asdict(rated)))
    else:
        again = "" if rated.new else " (this pair was rated before; the first answer stands)"
        print(f"recorded {rated.kind} for {rated.left_image_id} vs {rated.right_image_id}{again}")


@commands.command()
def show(job: JobArgument, as_json: JsonOption = False) -> None:
    """Show a job: its prompt, parameters, seeds, status (its place in the queue while it
    waits) and files, which model version drew each picture (this is the operator's terminal,
    so a blind comparison is revealed), and what people did with its pictures."""
    from bot.core.jobs.story import job_story

    async def work(opened: App) -> tuple[JobView, int | None, list[Signal]]:
        view = await opened.service.show(job, reveal=True, check_files=True)
        return view, await opened.queue.position(job), await job_story(opened.database, job)

    view, position, story = run_app(work)
    if as_json:
        print(
            json.dumps(
                {
                    **view.to_json(),
                    "position": position,
                    "story": [signal.to_json() for signal in story],
                }
            )
        )
    else:
        print_view(view, position, story)


@commands.command()
def jobs(
    everyone: Annotated[
        bool, typer.Option("--all", help="Everyone's jobs, not only yours.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """List recent jobs."""
    settings = read_settings()
    actor = None if everyone else acting_person(settings, user)
    views = run_app(lambda opened: opened.service.list_jobs(actor, limit))
    if as_json:
        print(json.dumps({"jobs": [view.to_json() for view in views]}))
        return
    out = Console(soft_wrap=True, highlight=False)
    for view in views:
        when = view.created_at[:19]
        out.print(
            f"{view.job_id}  {view.kind:<9} {view.status:<9} {when}  {plain(view.prompt[:60])}"
        )
    if not views:
        out.print("no jobs yet")
