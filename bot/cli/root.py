"""The ``pickloop`` typer application: every command group in one place, and the console entry
point that turns failures into one line."""

from __future__ import annotations

import sys

import typer

from bot.cli import data, edits, jobs, serve
from bot.cli.common import fail
from bot.cli.db import db_app
from bot.cli.engine import engine_app
from bot.cli.loop_demo import loop_demo
from bot.cli.models import models_app
from bot.cli.profile import profile_app
from bot.cli.toy import toy_app
from bot.cli.train import train_app
from bot.core.errors import SetupError

app = typer.Typer(
    name="pickloop",
    help="A Midjourney-style image bot whose clicks become preference data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(toy_app, name="toy")
app.add_typer(train_app, name="train")
app.add_typer(models_app, name="models")
app.add_typer(engine_app, name="engine")
app.add_typer(profile_app, name="profile")
# Each module declares its commands on its own typer; the root lists them at its top level.
for group in (jobs.commands, edits.commands, data.commands, serve.commands):
    for command in group.registered_commands:
        app.registered_commands.append(command)
app.command("loop-demo")(loop_demo)


def main() -> None:
    """Console entry point: one line on stderr for bad input instead of a usage dump."""
    try:
        app(standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        fail("aborted", 130)
    except SetupError as error:
        # The installation, not the command, is wrong: one line on what to do (the detail is
        # logged at debug level).
        fail(str(error), 1)
    except typer.TyperException as error:
        # Usage errors (exit code 2) and the like, from typer's own command-line parser. A
        # command group given no command has printed its help already and has nothing to add.
        message = error.format_message()
        if not message.strip():
            sys.exit(error.exit_code)
        fail(message, error.exit_code)
