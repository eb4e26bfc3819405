"""``pickloop``: the terminal front end. Every command that produces something takes ``--json``
and then prints exactly one JSON object on stdout; bad input exits 2 with one line on stderr."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import pydantic
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.errors import UserError
from bot.loop_cli import loop_demo
from bot.models_cli import models_app
from bot.people import Actor
from bot.prompt import PromptLimits, parse_prompt
from bot.settings import Settings
from bot.toy_cli import toy_app
from bot.train_cli import train_app
from bot.views import JobView
from storage.models import JobStatus

if TYPE_CHECKING:
    from bot.app import App
    from bot.job_story import Signal
    from engine import Progress as StepProgress
    from engine import ProgressCallback
    from storage.labels.curate import Curation

app = typer.Typer(
    name="pickloop",
    help="A Midjourney-style image bot whose clicks become preference data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(toy_app, name="toy")
app.add_typer(train_app, name="train")
app.add_typer(models_app, name="models")
app.command("loop-demo")(loop_demo)

stderr = Console(stderr=True)
T = TypeVar("T")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
UserOption = Annotated[
    str | None,
    typer.Option("--user", help="Act as this local person (default: PICKLOOP_USER or your login)."),
]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait/--no-wait",
        help="Wait for the job and run it here (default), or queue it for a worker "
        "(pickloop worker, pickloop bot) and return at once.",
    ),
]
JobArgument = Annotated[str, typer.Argument(help="A job id, as printed by imagine or jobs.")]
IndexArgument = Annotated[int, typer.Argument(help="Which image of the grid: 1 to 4 (row-major).")]


def main() -> None:
    """Console entry point: one line on stderr for bad input instead of a usage dump."""
    try:
        app(standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        _fail("aborted", 130)
    except typer.TyperException as error:
        # Usage errors (exit code 2) and the like, from typer's own command-line parser. A
        # command group given no command has printed its help already and has nothing to add.
        message = error.format_message()
        if not message.strip():
            sys.exit(error.exit_code)
        _fail(message, error.exit_code)


def _fail(message: str, code: int) -> NoReturn:
    print(f"pickloop: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(code)


def _settings() -> Settings:
    try:
        return Settings()
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        _fail(f"bad setting PICKLOOP_{where.upper()}: {first['msg']}", 2)


def _actor(settings: Settings, user: str | None) -> Actor:
    if user is not None:
        name, source = user, "--user"
    elif settings.user:
        name, source = settings.user, "PICKLOOP_USER"
    else:
        name, source = getpass.getuser(), "your login name"
    name = name.strip()
    if not name or len(name) > 100:
        _fail(f"{source} needs a name of 1 to 100 characters", 2)
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        _fail(f"{source} may not hold control or invisible characters", 2)
    return Actor.local(name)


def _curation(
    settings: Settings,
    min_signals: int,
    min_entropy: float | None,
    since: str | None,
    until: str | None,
    model: list[str] | None,
    keep_duplicates: bool,
) -> Curation:
    """curate's and export's options, checked before anything is opened; bad ones end in one
    line."""
    from bot.curation import curation_from

    try:
        return curation_from(
            settings,
            min_signals=min_signals,
            min_entropy=min_entropy,
            since=since,
            until=until,
            models=model or [],
            keep_duplicates=keep_duplicates,
        )
    except UserError as error:
        _fail(str(error), 2)


def _run(work: Callable[[App], Awaitable[T]], *, run_own_jobs: bool = True) -> T:
    settings = _settings()
    # Imported only once there is work: the engine it may build brings torch and diffusers,
    # seconds of start-up that bad input and --help need not wait for.
    from bot.app import open_app

    async def inside() -> T:
        async with open_app(settings, run_own_jobs=run_own_jobs) as opened:
            return await work(opened)

    try:
        return asyncio.run(inside())
    except UserError as error:
        _fail(str(error), 2)


def _bars() -> Progress:
    """Progress bars on stderr that vanish when done: what is left on screen is the result."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[Callable[[str], ProgressCallback | None]]:
    """A per-job progress bar on stderr, only when a person is watching a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _job_id: None
        return
    with _bars() as bars:

        def for_job(job_id: str) -> ProgressCallback:
            task = bars.add_task(f"job {job_id}", total=None)

            def advance(step: StepProgress) -> None:
                bars.update(task, completed=step.step, total=step.total)

            return advance

        yield for_job


def _produce(
    as_json: bool,
    queue: Callable[[App], Awaitable[JobView]],
    *,
    wait: bool = True,
) -> None:
    """Resume what a crash left behind, queue the new job, run it, and report it.

    ``wait`` False: queue the job for any worker and report it queued, at once."""
    if not wait:
        _report(_run(queue, run_own_jobs=False), [], as_json)
        return
    with _progress_bars(enabled=not as_json) as progress_for:

        async def work(opened: App) -> tuple[JobView, list[tuple[str, JobStatus]]]:
            resumed = await opened.resume_interrupted(progress_for)
            queued = await queue(opened)
            await opened.runner.run(queued.job_id, progress_for(queued.job_id))
            view = await opened.service.show(queued.job_id, warnings=queued.warnings)
            return view, resumed

        view, resumed = _run(work)
    _report(view, resumed, as_json)
    if view.status != JobStatus.DONE.value:
        _fail(f"job {view.job_id} {view.status}: {view.error or 'no reason recorded'}", 1)


def _report(view: JobView, resumed: list[tuple[str, JobStatus]], as_json: bool) -> None:
    for warning in view.warnings:
        stderr.print(f"[yellow]warning:[/] {warning}")
    if as_json:
        payload: dict[str, Any] = view.to_json()
        payload["resumed_jobs"] = [{"job_id": j, "status": s.value} for j, s in resumed]
        print(json.dumps(payload))
        return
    for job_id, status in resumed:
        stderr.print(f"resumed interrupted job {job_id}: {status.value}")
    _print_view(view)


def printable(text: str) -> str:
    """People's text (prompts, names) with control characters and bidirectional overrides
    written as escapes, so that a Discord user cannot colour, move or rewrite the operator's
    terminal."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS
        else char
        for char in text
    )


def plain(text: str) -> str:
    """People's text for a rich console: printable, and its [markup] shown as it is."""
    return escape(printable(text))


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _print_view(view: JobView, position: int | None = None, story: Sequence[Signal] = ()) -> None:
    out = Console(soft_wrap=True, highlight=False)
    out.print(f"[bold]{view.kind} {view.job_id}[/] {view.status} · {plain(repr(view.prompt))}")
    if position is not None:
        out.print(f"  waiting: position {position} in the queue")
    p = view.parameters
    out.print(
        f"  {p.get('width')}x{p.get('height')} · steps {p.get('steps')} · cfg {p.get('guidance')}"
        f" · model {plain(view.model)} · seeds {view.seeds[0]}..{view.seeds[-1]}"
    )
    if view.grid_path:
        out.print(f"  grid: {plain(view.grid_path)}")
    for image in view.images:
        drawn_by = f" model {image.model}" if image.model and image.model != view.model else ""
        out.print(
            f"  {image.index}: image {image.id} seed {image.seed}{plain(drawn_by)} "
            f"{plain(image.path)}"
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


@app.command()
def imagine(
    prompt: Annotated[
        str, typer.Argument(help='The prompt, e.g. "a lighthouse at dusk --ar 16:9".')
    ],
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Make a 2x2 grid from a prompt and say where it is."""
    settings = _settings()
    actor = _actor(settings, user)
    try:
        # Refuse malformed parameters before anything is opened, loaded or written.
        parse_prompt(prompt, PromptLimits(settings.max_steps, settings.max_guidance))
    except UserError as error:
        _fail(str(error), 2)
    _produce(as_json, lambda opened: opened.service.imagine(actor, prompt), wait=wait)


@app.command()
def upscale(
    job: JobArgument,
    index: IndexArgument,
    user: UserOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Upscale image INDEX of a grid (like U1-U4); records the click."""
    actor = _actor(_settings(), user)
    _produce(as_json, lambda opened: opened.service.upscale(actor, job, index), wait=wait)


@app.command()
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
    actor = _actor(_settings(), user)
    _produce(
        as_json, lambda opened: opened.service.vary(actor, job, index, strong=strong), wait=wait
    )


@app.command()
def reroll(
    job: JobArgument, user: UserOption = None, wait: WaitOption = True, as_json: JsonOption = False
) -> None:
    """Make a new grid from the same prompt with new seeds (like 🔄); records the click."""
    actor = _actor(_settings(), user)
    _produce(as_json, lambda opened: opened.service.reroll(actor, job), wait=wait)


@app.command()
def react(
    image: Annotated[str, typer.Argument(help="An image id, as printed by imagine or show.")],
    emoji: Annotated[
        str, typer.Argument(help="❤️ ⭐ 👍 👎 ❌, or heart, star, like, dislike, delete.")
    ],
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a reaction to an image."""
    actor = _actor(_settings(), user)
    event = _run(lambda opened: opened.service.react(actor, image, emoji))
    if as_json:
        print(json.dumps(event))
    else:
        print(f"recorded {event['kind']} on image {event['image_id']} of job {event['job_id']}")


@app.command()
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
    from bot.rating import Choice

    given = [value for value in (left, right, choice) if value is not None]
    if len(given) not in (0, 3):
        _fail("give LEFT RIGHT CHOICE to answer, or nothing to see the next pair", 2)
    actor = _actor(_settings(), user)
    if not given:
        pair = _run(lambda opened: opened.rating.next_pair(actor))
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
        _fail(f"{choice!r} is not a choice; use left, right, tie or skip", 2)
    rated = _run(lambda opened: opened.rating.record(actor, left or "", right or "", picked))
    if as_json:
        print(json.dumps(asdict(rated)))
    else:
        again = "" if rated.new else " (this pair was rated before; the first answer stands)"
        print(f"recorded {rated.kind} for {rated.left_image_id} vs {rated.right_image_id}{again}")


@app.command()
def show(job: JobArgument, as_json: JsonOption = False) -> None:
    """Show a job: its prompt, parameters, seeds, status (its place in the queue while it
    waits) and files, which model version drew each picture (this is the operator's terminal,
    so a blind comparison is revealed), and what people did with its pictures."""
    from bot.job_story import job_story

    async def work(opened: App) -> tuple[JobView, int | None, list[Signal]]:
        view = await opened.service.show(job, reveal=True)
        return view, await opened.queue.position(job), await job_story(opened.database, job)

    view, position, story = _run(work)
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


@app.command()
def jobs(
    everyone: Annotated[
        bool, typer.Option("--all", help="Everyone's jobs, not only yours.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """List recent jobs."""
    settings = _settings()
    actor = None if everyone else _actor(settings, user)
    views = _run(lambda opened: opened.service.list_jobs(actor, limit))
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


# What curate and export are both told: which people, times and models the data keeps.
MinSignalsOption = Annotated[
    int,
    typer.Option(
        "--min-signals", min=0, help="Leave out people with fewer clicks, reactions, ratings."
    ),
]
MinEntropyOption = Annotated[
    float | None,
    typer.Option(
        "--min-entropy",
        min=0.0,
        max=2.0,
        help="Leave out people whose U-clicks keep to a few positions: bits, 0 (always the "
        "same one) to 2 (all four alike).",
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Only what was said from this day or time on (ISO, UTC)."),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="Only what was said up to this day (inclusive) or time."),
]
ModelOption = Annotated[
    list[str] | None,
    typer.Option("--model", help="Only pictures made by this model version (repeatable)."),
]
KeepDuplicatesOption = Annotated[
    bool, typer.Option("--keep-duplicates", help="Keep byte-identical pictures.")
]


@app.command("export")
def export_dataset(
    format: Annotated[
        str, typer.Option("--format", help="pairs (Diffusion-DPO), kto or rankings (lossless).")
    ],
    out: Annotated[Path, typer.Option("--out", help="A new folder for the dataset.")],
    min_signals: MinSignalsOption = 0,
    min_entropy: MinEntropyOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    model: ModelOption = None,
    keep_duplicates: KeepDuplicatesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Export what people clicked as a Hugging Face datasets folder (parquet shards and a
    dataset card), with people as keyed pseudonyms (PICKLOOP_EXPORT_SECRET).

    The data is curated as `pickloop curate` reports it, with the same options."""
    from bot.curation import check_model_versions

    settings = _settings()
    curation = _curation(settings, min_signals, min_entropy, since, until, model, keep_duplicates)
    secret = settings.export_secret.get_secret_value() if settings.export_secret else ""
    # Imported only when exporting: datasets and pyarrow take a while to load.
    from storage.db import open_database
    from storage.export import (
        FORMATS,
        ExportError,
        ExportOptions,
        MissingSecretError,
        Pseudonyms,
        export_from_database,
    )
    from storage.imagestore import ImageStore, ImageStoreError

    chosen = FORMATS.get(format.strip().lower())
    if chosen is None:
        _fail(f"--format {format!r} is not a format; use {', '.join(FORMATS)}", 2)
    try:
        Pseudonyms(secret)
    except MissingSecretError as error:
        _fail(str(error), 2)
    store = ImageStore(settings.image_dir.resolve())

    async def work(progress: Callable[[int, int], None] | None) -> dict[str, Any]:
        database = await open_database(settings.resolved_database_url)
        try:
            await check_model_versions(database, curation)
            result = await export_from_database(
                database,
                chosen,
                out,
                read_png=store.read,
                secret=secret,
                curation=curation,
                options=ExportOptions(license=settings.export_license),
                progress=progress,
            )
        finally:
            await database.dispose()
        return result.to_json()

    with _rows_bar(enabled=not as_json) as progress:
        try:
            done = asyncio.run(work(progress))
        except (ExportError, UserError) as error:
            _fail(str(error), 2)
        except ImageStoreError as error:
            _fail(f"the export stopped, nothing was written: {error}", 1)
    if as_json:
        print(json.dumps(done))
        return
    splits = ", ".join(f"{split} {rows}" for split, rows in done["splits"].items())
    print(f"exported {done['rows']} {done['format']} rows to {done['folder']} ({splits})")


@contextmanager
def _rows_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """One progress bar on stderr for rows written, only when a person is watching."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    with _bars() as bars:
        task = bars.add_task("exporting", total=None)

        def advance(written: int, total: int) -> None:
            bars.update(task, completed=written, total=total)

        yield advance


@app.command("curate")
def curate_data(
    min_signals: MinSignalsOption = 0,
    min_entropy: MinEntropyOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    model: ModelOption = None,
    keep_duplicates: KeepDuplicatesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Report what the preference data holds once curated, and what each filter took out.

    People who opted out or are blocked are always left out, and so are prompts with a word of
    PICKLOOP_BANNED_WORDS."""
    from rich.table import Table

    from bot.curation import check_model_versions
    from storage.db import open_database
    from storage.labels.curate import CurationReport, curate

    settings = _settings()
    options = _curation(settings, min_signals, min_entropy, since, until, model, keep_duplicates)

    async def work() -> CurationReport:
        database = await open_database(settings.resolved_database_url)
        try:
            await check_model_versions(database, options)
            return await curate(database, options)
        finally:
            await database.dispose()

    try:
        report = asyncio.run(work())
    except UserError as error:
        _fail(str(error), 2)
    if as_json:
        print(json.dumps(report.to_json()))
        return
    out = Console(highlight=False)
    agreement = report.agreement
    out.print(
        f"[bold]kept[/] {report.pairs} pairs, {report.ties} ties, "
        f"{report.positive_labels + report.negative_labels} labels ({report.positive_labels} "
        f"good, {report.negative_labels} bad) · {report.prompts} prompts · {report.people} "
        f"people · {report.grids} grids"
    )
    out.print(
        f"derived before curating: {report.derived_pairs} pairs, {report.derived_labels} labels"
    )
    clicks = " · ".join(f"U{n + 1} {count}" for n, count in enumerate(report.click_positions))
    out.print(f"U-clicks by position (people kept): {clicks}")
    if agreement.majority_share is None:
        out.print("agreement: no two people judged the same two pictures")
    else:
        out.print(
            f"agreement: {agreement.contested_pairs} pairs judged by two people or more; "
            f"{agreement.majority_share:.0%} of {agreement.judgements} judgements side with the "
            f"majority"
        )
    table = Table("removed by", "pairs", "ties", "labels", "people")
    for removed in report.removed:
        people = "" if removed.people is None else str(removed.people)
        table.add_row(
            removed.filter, str(removed.pairs), str(removed.ties), str(removed.labels), people
        )
    out.print(table)


@app.command("worker")
def serve_queue(
    jobs_at_once: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="Jobs run at once (default PICKLOOP_JOBS_AT_ONCE)."),
    ] = None,
) -> None:
    """Run jobs from the queue, and nothing else, until stopped (Ctrl-C): beside a bot
    started with --no-worker, or one per GPU (CUDA_VISIBLE_DEVICES=1 pickloop worker)."""
    settings = _settings()

    async def work(opened: App) -> None:
        from bot.worker import QueueWorker

        worker = QueueWorker(opened, capacity=jobs_at_once or settings.jobs_at_once)
        stderr.print(f"worker {opened.worker_id} is taking jobs from the queue")
        await worker.work()

    try:
        _run(work, run_own_jobs=False)
    except KeyboardInterrupt:
        stderr.print("stopped")


@app.command("bot")
def serve_discord(
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run jobs in this process too (default), or only accept requests and "
            "deliver results while pickloop worker processes run the jobs.",
        ),
    ] = True,
) -> None:
    """Serve Discord with PICKLOOP_DISCORD_TOKEN: /imagine, its buttons, /rate, /privacy..."""
    settings = _settings()
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        _fail(
            "PICKLOOP_DISCORD_TOKEN is not set: copy the bot token from your application's Bot "
            "page at https://discord.com/developers/applications",
            2,
        )
    # Imported only when serving: discord.py, torch and diffusers take seconds to load.
    from bot.ui import TokenRejected, run_bot
    try:
        asyncio.run(run_bot(settings, token, runs_jobs=worker))
    except TokenRejected:
        _fail(
            "Discord rejected PICKLOOP_DISCORD_TOKEN: reset the token on the application's Bot "
            "page and set the new one",
            1,
        )
    except KeyboardInterrupt:
        stderr.print("stopped")


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOption = False) -> None:
    """Create or upgrade the database schema to the newest version."""
    settings = _settings()

    async def work() -> bool:
        from storage.db import open_database

        database = await open_database(settings.resolved_database_url)
        await database.dispose()
        return database.schema_was_upgraded

    upgraded = asyncio.run(work())
    where = settings.resolved_database_url.split("@")[-1]  # never print credentials
    if as_json:
        print(json.dumps({"upgraded": upgraded, "database": where}))
    else:
        print(f"database {'upgraded' if upgraded else 'was up to date'}: {where}")
