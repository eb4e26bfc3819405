from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import update

from bot.config import Settings
from bot.core.app import App, open_app
from bot.ui import PickloopBot
from engine import LocalEngine
from storage.models import Job, utcnow
from tests.bot.conftest import make_settings
from tests.bot.ui.harness import FakeDiscord, Gateway, wire

StartBot = Callable[[], Awaitable[Gateway]]


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Settings a test module changes by overriding this fixture."""
    return {}


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, tiny_model_dir: Path, settings_overrides: dict[str, object]
) -> Settings:
    return make_settings(tmp_path / "data", database_url, tiny_model_dir, **settings_overrides)


@pytest.fixture
def fake_discord(monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    """Discord's side of every request any client in the test makes.

    aiohttp is how discord.py reaches Discord (REST, interaction webhooks, the gateway); its
    session's last step before the network is answered here, so everything above it (rate
    limits, retries, file uploads) is discord.py's own code. The database's own connections
    do not use aiohttp.
    """
    fake = FakeDiscord()
    monkeypatch.setattr(aiohttp.ClientSession, "_request", wire(fake))
    return fake


@pytest.fixture
async def app(settings: Settings, local_engine: LocalEngine) -> AsyncIterator[App]:
    """The bot's process: what it queues waits in the shared queue for a worker."""
    async with open_app(settings, engine=local_engine, run_own_jobs=False) as opened:
        yield opened


@pytest.fixture
async def start_bot(
    app: App, fake_discord: FakeDiscord
) -> AsyncIterator[Callable[[], Awaitable[Gateway]]]:
    """Start a bot process on the shared database: logged in, commands synced, READY received.

    Called twice in a test, it is a restart: the second client shares nothing in memory with
    the first.
    """
    started: list[PickloopBot] = []

    async def start() -> Gateway:
        bot = PickloopBot(app)
        started.append(bot)
        await bot.login("test-token")
        gateway = Gateway(bot, fake_discord)
        gateway.ready()
        return gateway

    yield start
    for bot in started:
        await bot.close()


async def abandon(app: App, job_id: str) -> None:
    """Make a queued job look accepted by a process that has since died: its claim lapsed."""
    async with app.database.sessions.begin() as session:
        await session.execute(
            update(Job)
            .where(Job.public_id == job_id)
            .values(claimed_by="elsewhere:1:gone", lease_expires_at=utcnow() - timedelta(hours=1))
        )
