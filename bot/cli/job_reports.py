"""Running the job a command asked for, and printing what became of it: what ``imagine``,
``upscale``, ``vary``, ``reroll`` and ``train`` share, and ``show``'s page of a job."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bot.cli.common import fail, plain, progress_bars, run_app, stderr
from bot.core.jobs.job_view import JobView
from engine.errors import EngineUnavailable
from storage.models import JobStatus

if TYPE_CHECKING:
    from bot.core.app import App
    from bot.core.jobs.story import Signal


def produce(
    as_json: bool,
    queue: Callable[[App], Awaitable[JobView]],
    *,
    wait: bool = True,
) -> None:
    """Resume what a crash left behind, queue the new job, run it, and report it.

    ``wait`` False: queue the job for any worker and report it queued, at once."""

    async def one(opened: App) -> list[JobView]:
        return [await queue(opened)]

    produce_all(as_json, one, wait=wait)


def produce_all(
    as_json: bool,
    queue: Callable[[App], Awaitable[list[JobView]]],
    *,
    wait: bool = True,
) -> None:
    """``produce`` for a command that queues several jobs at once (a permutation prompt): each
    is run in turn and reported (with ``--json``, one line each)."""
    if not wait:
        for view in run_app(queue, run_own_jobs=False):
            _report(view, [], as_json)
        return
    with progress_bars(enabled=not as_json) as progress_for:

        async def work(opened: App) -> tuple[list[JobView], list[tuple[str, JobStatus]], str]:
            resumed = await opened.resume_interrupted(progress_for)
            queued = await queue(opened)
            views, unavailable = [], ""
            for job in queued:
                if not unavailable:
                    try:
                        await opened.runner.run(job.job_id, progress_for(job.job_id))
                    except EngineUnavailable as error:
                        unavailable = str(error)
                views.append(await opened.service.show(job.job_id, warnings=job.warnings))
            return views, resumed, unavailable

        views, resumed, unavailable = run_app(work)
    if unavailable:
        # Accepted work is kept: the jobs wait in the queue for the engine to be back.
        for view in views:
            _report(view, resumed, as_json, show_view=False)
        waiting = ", ".join(view.job_id for view in views if view.status != JobStatus.DONE.value)
        fail(
            f"job {waiting} stays queued until the engine is back, and a worker (pickloop "
            f"worker) runs it then: {unavailable}",
            1,
        )
    for view in views:
        # A job that failed is one line on stderr (its id and reason); `show` has the rest.
        _report(view, resumed, as_json, show_view=view.status == JobStatus.DONE.value)
        resumed = []
    failed = [view for view in views if view.status != JobStatus.DONE.value]
    if failed:
        view = failed[0]
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
        print_view(view)


def print_view(view: JobView, position: int | None = None, story: Sequence[Signal] = ()) -> None:
    out = Console(soft_wrap=True, highlight=False)
    p = view.parameters
    data_job = p.export is not None or p.fine_tune is not None
    # Data jobs have no prompt to show.
    prompt = "" if data_job else f" · {plain(repr(view.prompt))}"
    out.print(f"[bold]{view.kind} {view.job_id}[/] {view.status}{prompt}")
    if position is not None:
        out.print(f"  waiting: position {position} in the queue")
    if view.steps_done is not None and view.steps_total:
        out.print(f"  running: step {view.steps_done} of {view.steps_total}")
    if data_job:
        _print_data_job(out, view)
        return
    drawn_with = f" · chaos {p.chaos}" if p.chaos else ""
    if p.images:
        drawn_with += (
            f" · from {p.images} image{'s' if p.images > 1 else ''} (--iw {p.image_weight:g})"
        )
    out.print(
        f"  {p.width}x{p.height} · steps {p.steps} · cfg {p.guidance}"
        f" · model {plain(view.model)} · seeds {view.seeds[0]}..{view.seeds[-1]}{drawn_with}"
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
        # A fine-tune without a validation split has no accuracy to tell, say.
        if value is not None:
            out.print(f"  {name}: {plain(str(value))}")
    if view.error:
        out.print(f"  error: {plain(view.error)}")
