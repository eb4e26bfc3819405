"""What every ``pickloop`` command shares: its options, one-line failures, the settings and the
person acting, opening the application, progress bars, and people's text made safe to print."""

from __future__ import annotations

import asyncio
import getpass
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import pydantic
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.errors import UserError

if TYPE_CHECKING:
    from bot.core.app import App
    from engine import Progress as StepProgress
    from engine import ProgressCallback


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


def fail(message: str, code: int) -> NoReturn:
    print(f"pickloop: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(code)


def read_settings() -> Settings:
    try:
        return Settings()
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        # A check across settings names its variables in its own message, and has no place.
        message = str(first["msg"]).removeprefix("Value error, ")
        fail(f"bad setting PICKLOOP_{where.upper()}: {message}" if where else message, 2)


def acting_person(settings: Settings, user: str | None) -> Actor:
    if user is not None:
        name, source = user, "--user"
    elif settings.user:
        name, source = settings.user, "PICKLOOP_USER"
    else:
        name, source = getpass.getuser(), "your login name"
    name = name.strip()
    if not name or len(name) > 100:
        fail(f"{source} needs a name of 1 to 100 characters", 2)
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        fail(f"{source} may not hold control or invisible characters", 2)
    return Actor.local(name)


def run_app(work: Callable[[App], Awaitable[T]], *, run_own_jobs: bool = True) -> T:
    settings = read_settings()
    # Imported only once there is work: the engine it may build brings torch and diffusers,
    # seconds of start-up that bad input and --help need not wait for.
    from bot.core.app import open_app

    async def inside() -> T:
        async with open_app(settings, run_own_jobs=run_own_jobs) as opened:
            return await work(opened)

    try:
        return asyncio.run(inside())
    except UserError as error:
        fail(str(error), 2)


def progress_display() -> Progress:
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
def progress_bars(enabled: bool) -> Iterator[Callable[[str], ProgressCallback | None]]:
    """A per-job progress bar on stderr, only when a person is watching a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _job_id: None
        return
    with progress_display() as bars:

        def for_job(job_id: str) -> ProgressCallback:
            task = bars.add_task(f"job {job_id}", total=None)

            def advance(step: StepProgress) -> None:
                bars.update(task, completed=step.step, total=step.total)

            return advance

        yield for_job


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
