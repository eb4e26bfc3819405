"""Commands on jobs and their pictures: imagine, upscale, vary, reroll, react, rate, show, jobs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from bot.core.errors import UserError
from bot.core.jobs.job_view import JobView
from bot.core.jobs.prompt import PromptLimits, parse_prompt
from storage.models import JobStatus

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
    progress_bars,
    read_settings,
    run_app,
    stderr,
)

commands = typer.Typer()


def _produce(
    as_json: bool,
    queue: Callable[[App], Awaitable[JobView]],
    *,
    wait: bool = True,
) -> None:
    """Resume what a crash left behind, queue the new job, run it, and report it.

    ``wait`` False: queue the job for any worker and report it queued, at once."""
    if not wait:
        _report(run_app(queue, run_own_jobs=False), [], as_json)
        return
    with progress_bars(enabled=not as_json) as progress_for:

        async def work(opened: App) -> tuple[JobView, list[tuple[str, JobStatus]]]:
            resumed = await opened.resume_interrupted(progress_for)
            queued = await queue(opened)
            await opened.runner.run(queued.job_id, progress_for(queued.job_id))
            view = await opened.service.show(queued.job_id, warnings=queued.warnings)
            return view, resumed

        view, resumed = run_app(work)
    done = view.status == JobStatus.DONE.value
    # A job that failed is one line on stderr (its id and reason); `show` has the rest.
    _report(view, resumed, as_json, show_view=done)
    if not done:
        fail(f"job {view.job_id} {view.status}: {view.error or 'no reason recorded'}", 1)


def _report(
    view: JobView, resumed: list[tuple[str, JobStatus]], as_json: bool, *, show_view: bool = True
) -> None:
    for warning in view.warnings:
        stderr.print(f"[yellow]warning:[/] {warning}")
    if as_json:
        payload: dict[str, Any] = view.to_json()
        payload["resumed_jobs"] = [{"job_id": j, "status": s.value} for j, s in resumed]
        print(json.dumps(payload))
        return
    for job_id, status in resumed:
        stderr.print(f"resumed interrupted job {job_id}: {status.value}")
    if show_view:
        _print_view(view)


def _print_view(view: JobView, position: int | None = None, story: Sequence[Signal] = ()) -> None:
    out = Console(soft_wrap=True, highlight=False)
    out.print(f"[bold]{view.kind} {view.job_id}[/] {view.status} · {plain(repr(view.prompt))}")
    if position is not None:
        out.print(f"  waiting: position {position} in the queue")
    p = view.parameters
    if p.export is not None or p.fine_tune is not None:
        _print_data_job(out, view)
        return
    out.print(
        f"  {p.width}x{p.height} · steps {p.steps} · cfg {p.guidance}"
        f" · model {plain(view.model)} · seeds {view.seeds[0]}..{view.seeds[-1]}"
    )
    if view.grid_path:
        out.print(f"  grid: {plain(view.grid_path)}")
    for image in view.images:
        drawn_by = f" model {image.model}" if image.model and image.model != view.model else ""
        trouble = f" [red]({image.problem}: it cannot be shown or used)[/]" if image.problem else ""
        out.print(
            f"  {image.index}: image {image.id} seed {image.seed}{plain(drawn_by)} "
            f"{plain(image.path)}{trouble}"
        )
    if view.error:
        out.print(f"  error: {plain(view.error)}")
    if story:
        out.print("  what people did:")
    for signal in story:
        picture = f" U{signal.image}" if signal.image is not None else " (the grid)"
        against = f" against image {signal.compared_with}" if signal.compared_with else ""
        started = f" -> job {signal.started_job_id}" if signal.started_job_id else ""
        out.print(
            f"    {signal.at[:19]} {plain(signal.who)} {signal.kind}{picture}{against}"
            f"{started} ({signal.origin})"
        )


def _print_data_job(out: Console, view: JobView) -> None:
    """An export or a fine-tune: what it was asked for, and what it made or why it failed."""
    export, fine_tune = view.parameters.export, view.parameters.fine_tune
    if export is not None:
        out.print(f"  {export.format} dataset into {plain(export.out)}")
    if fine_tune is not None:
        method = fine_tune.training.get("method", "dpo")
        out.print(f"  {method} on {plain(fine_tune.data)} into {plain(fine_tune.out)}")
    for name, value in (view.outcome or {}).items():
        out.print(f"  {name}: {plain(str(value))}")
    if view.error:
        out.print(f"  error: {plain(view.error)}")


@commands.command()
def imagine(
    prompt: Annotated[
        str, typer.Argument(help='The prompt, e.g. "a lighthouse at dusk --ar 16:9".')
    ],
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Make a 2x2 grid from a prompt and say where it is."""
    settings = read_settings()
    actor = acting_person(settings, user)
    try:
        # Refuse malformed parameters before anything is opened, loaded or written.
        parse_prompt(prompt, PromptLimits(settings.max_steps, settings.max_guidance))
    except UserError as error:
        fail(str(error), 2)
    _produce(as_json, lambda opened: opened.service.imagine(actor, prompt), wait=wait)


@commands.command()
def upscale(
    job: JobArgument,
    index: IndexArgument,
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Upscale image INDEX of a grid (like U1-U4); records the click."""
    actor = acting_person(read_settings(), user)
    _produce(as_json, lambda opened: opened.service.upscale(actor, job, index), wait=wait)


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
    _produce(
        as_json, lambda opened: opened.service.vary(actor, job, index, strong=strong), wait=wait
    )


@commands.command()
def reroll(
    job: JobArgument, user: UserOption = None, wait: WaitOption = True, as_json: JsonOption = False
) -> None:
    """Make a new grid from the same prompt with new seeds (like 🔄); records the click."""
    actor = acting_person(read_settings(), user)
    _produce(as_json, lambda opened: opened.service.reroll(actor, job), wait=wait)


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
        _print_view(view, position, story)


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
