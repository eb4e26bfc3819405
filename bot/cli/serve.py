"""Long-running commands: a queue worker, and the Discord bot."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bot.core.app import App
from bot.cli.common import fail, read_settings, run_app, stderr
from bot.cli.engine import check_cluster_engine

commands = typer.Typer()


@commands.command("worker")
def serve_queue(
    jobs_at_once: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="Jobs run at once (default PICKLOOP_JOBS_AT_ONCE)."),
    ] = None,
) -> None:
    """Run jobs from the queue, and nothing else, until stopped (Ctrl-C): beside a bot
    started with --no-worker, or one per GPU (CUDA_VISIBLE_DEVICES=1 pickloop worker)."""
    settings = read_settings()
    check_cluster_engine(settings)

    async def work(opened: App) -> None:
        from bot.core.worker import QueueWorker

        worker = QueueWorker(opened, capacity=jobs_at_once or settings.jobs_at_once)
        stderr.print(f"worker {opened.worker_id} is taking jobs from the queue")
        await worker.work()

    try:
        run_app(work, run_own_jobs=False)
    except KeyboardInterrupt:
        stderr.print("stopped")


@commands.command("bot")
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
    settings = read_settings()
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        fail(
            "PICKLOOP_DISCORD_TOKEN is not set: copy the bot token from your application's Bot "
            "page at https://discord.com/developers/applications",
            2,
        )
    check_cluster_engine(settings)
    # Imported only when serving: discord.py, torch and diffusers take seconds to load.
    from bot.ui import DiscordUnreachable, TokenRejected, run_bot

    try:
        asyncio.run(run_bot(settings, token, runs_jobs=worker))
    except TokenRejected:
        fail(
            "Discord rejected PICKLOOP_DISCORD_TOKEN: reset the token on the application's Bot "
            "page and set the new one",
            1,
        )
    except DiscordUnreachable as error:
        fail(f"cannot reach Discord ({error}): check this machine's network and try again", 1)
    except KeyboardInterrupt:
        stderr.print("stopped")
