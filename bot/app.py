"""Wiring: one place that opens the database, the image store and the engine for any front end."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bot.account import Accounts
from bot.admin import Moderation
from bot.preferences import Preferences
from bot.privacy import PrivacyService
from bot.rating import RatingService
from bot.runner import JobRunner, new_worker_id
from bot.service import JobService
from bot.settings import Settings
from engine import Engine, LocalEngine, ProgressCallback
from storage.db import Database, open_database
from storage.imagestore import ImageStore
from storage.models import JobStatus


@dataclass(frozen=True)
class App:
    settings: Settings
    database: Database
    store: ImageStore
    engine: Engine
    service: JobService
    runner: JobRunner
    worker_id: str
    rating: RatingService
    privacy: PrivacyService
    preferences: Preferences
    accounts: Accounts
    moderation: Moderation

    async def resume_interrupted(
        self, progress_for: Callable[[str], ProgressCallback | None] | None = None
    ) -> list[tuple[str, JobStatus]]:
        """Finish the jobs that workers which died left behind; the oldest first."""
        finished = []
        for job_id in await self.runner.recover():
            on_progress = progress_for(job_id) if progress_for else None
            finished.append((job_id, await self.runner.run(job_id, on_progress)))
        return finished


def local_engine(settings: Settings) -> LocalEngine:
    """The in-process engine the settings ask for (device, precision, model cache)."""
    return LocalEngine(
        settings.model_cache_dir,
        device=settings.device,
        dtype=settings.dtype,
        batch_images=settings.engine_batch_images,
        gather_seconds=settings.engine_gather_seconds,
    )


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings, engine: Engine | None = None, *, chance: random.Random | None = None
) -> AsyncIterator[App]:
    """Open everything a front end needs; an engine passed in is shared and left open.
    `chance` (seeded) makes the job service's new seeds and blind layouts repeatable."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = await open_database(settings.resolved_database_url)
    own_engine = engine is None
    active_engine: Engine = engine or local_engine(settings)
    store = ImageStore(settings.image_dir.resolve())
    worker_id = new_worker_id()
    service = JobService(database, store, active_engine, settings, worker_id, chance)
    runner = JobRunner(database, store, active_engine, worker_id, settings.job_lease_seconds)
    heartbeat: asyncio.Task[None] | None = None
    try:
        await service.ensure_default_model()
        heartbeat = asyncio.create_task(runner.keep_claims_alive())
        yield App(
            settings,
            database,
            store,
            active_engine,
            service,
            runner,
            worker_id,
            rating=RatingService(database, store),
            privacy=PrivacyService(database, store),
            preferences=Preferences(database, settings),
            accounts=Accounts(database, settings),
            moderation=Moderation(database, settings),
        )
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if own_engine:
            await active_engine.close()
        await database.dispose()
