"""Wiring: one place that opens the database, the image store and the engine for any front end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.data.data_jobs import DataJobs
from bot.core.data.exports import ExportHandler
from bot.core.data.training_jobs import FineTuneHandler, TrainingThread
from bot.core.errors import SetupError
from bot.core.jobs.handlers import Handlers, JobHandler
from bot.core.jobs.pictures import PictureHandler
from bot.core.jobs.processes import new_worker_id, worker_is_gone
from bot.core.jobs.progress import ProgressHub
from bot.core.jobs.runner import JobRunner
from bot.core.jobs.service import JobService
from bot.core.jobs.watch import JobWatch
from bot.core.models.lazy_engine import EngineOnFirstUse
from bot.core.models.profiles import Profiles
from bot.core.moderation.server import Moderation
from bot.core.opening import make_data_folder, open_configured_database
from bot.core.people.account import Accounts
from bot.core.people.defaults import Preferences
from bot.core.people.privacy import PrivacyService
from bot.core.people.rating import RatingService
from engine.errors import EngineUnavailable
from engine.model_files import ModelFiles
from engine.protocol import Engine
from storage.db import Database
from storage.imagestore import ImageStore
from storage.models import JobKind, JobStatus
from storage.queue import JobQueue

if TYPE_CHECKING:
    from engine import LocalEngine, ProgressCallback

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class App:
    settings: Settings
    database: Database
    store: ImageStore
    engine: Engine
    service: JobService
    runner: JobRunner
    worker_id: str
    queue: JobQueue
    watch: JobWatch
    progress: ProgressHub
    rating: RatingService
    privacy: PrivacyService
    preferences: Preferences
    accounts: Accounts
    moderation: Moderation
    data_jobs: DataJobs
    profiles: Profiles

    async def resume_interrupted(
        self, progress_for: Callable[[str], ProgressCallback | None] | None = None
    ) -> list[tuple[str, JobStatus]]:
        """Finish the jobs that workers which died left behind, the oldest first; jobs given up
        on (their worker died too often) are listed as failed."""
        swept = await self.queue.sweep(self.worker_id, worker_is_gone)
        finished = [(job_id, JobStatus.FAILED) for job_id in swept.given_up]
        for job_id in swept.released:
            # Another worker may have claimed it since the sweep; then it is theirs.
            if not await self.queue.claim(job_id, self.worker_id):
                continue
            on_progress = progress_for(job_id) if progress_for else None
            try:
                finished.append((job_id, await self.runner.run(job_id, on_progress)))
            except EngineUnavailable:
                # That job and the rest wait in the queue for the engine's return.
                break
        return finished


def job_handlers(
    settings: Settings,
    database: Database,
    store: ImageStore,
    engine: Engine,
    training_thread: TrainingThread | None = None,
) -> Handlers:
    """What runs each kind of job (see ``bot.core.jobs.handlers``)."""
    pictures = PictureHandler(database, store, engine)
    handlers: dict[JobKind, JobHandler] = {
        kind: pictures for kind in JobKind if kind.makes_pictures
    }
    handlers[JobKind.EXPORT] = ExportHandler(settings)
    handlers[JobKind.FINE_TUNE] = FineTuneHandler(settings, training_thread)
    return handlers


def local_engine(settings: Settings) -> LocalEngine:
    """The in-process engine the settings ask for (device, precision, model cache)."""
    # Here, not at the top: it brings torch and diffusers (see EngineOnFirstUse).
    from engine import LocalEngine
    from engine.chatter import silence_library_progress

    # pickloop reports progress per job; the libraries' own bars would bury it.
    silence_library_progress()

    return LocalEngine(
        settings.model_cache_dir,
        device=settings.device,
        dtype=settings.dtype,
        batch_images=settings.engine_batch_images,
        gather_seconds=settings.engine_gather_seconds,
        threads=settings.torch_threads,
        adapters_kept=settings.adapters_kept,
    )


def cluster_engine(settings: Settings) -> Engine:
    """The engine on the Ray cluster at PICKLOOP_RAY_ADDRESS (joined on first use)."""
    try:
        from engine.ray_serve.client import RayEngine
    except ImportError as error:
        raise SetupError("PICKLOOP_ENGINE=ray needs Ray: pip install 'pickloop[ray]'") from error
    return RayEngine(settings.ray_address)


def configured_engine(settings: Settings) -> Engine:
    """The engine PICKLOOP_ENGINE names: this process's own, or the cluster's replicas."""
    if settings.engine == "ray":
        return cluster_engine(settings)
    return local_engine(settings)


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings,
    engine: Engine | None = None,
    *,
    chance: random.Random | None = None,
    run_own_jobs: bool = True,
    training_thread: TrainingThread | None = None,
) -> AsyncIterator[App]:
    """Open everything a front end needs; an engine passed in is shared and left open.
    `chance` (seeded) makes the job service's new seeds and blind layouts repeatable.
    `run_own_jobs`: jobs this process asks for are claimed by it (see ``JobService``).
    `training_thread`: where fine-tune jobs train (see ``FineTuneHandler``)."""
    make_data_folder(settings)
    database = await open_configured_database(settings)
    own_engine = engine is None
    active_engine: Engine = engine or EngineOnFirstUse(
        lambda: configured_engine(settings), ModelFiles(settings.model_cache_dir)
    )
    store = ImageStore(settings.image_dir.resolve())
    worker_id = new_worker_id()
    service = JobService(
        database, store, active_engine, settings, worker_id, chance, run_own_jobs=run_own_jobs
    )
    runner = JobRunner(
        database,
        job_handlers(settings, database, store, active_engine, training_thread),
        worker_id,
        settings.job_lease_seconds,
    )
    queue = JobQueue(database, settings.job_lease_seconds)
    progress = ProgressHub()
    watch = JobWatch(database, settings.queue_poll_seconds, progress, worker_id)
    heartbeat: asyncio.Task[None] | None = None
    try:
        # Torch-free: a model that must load first to be known is registered at first use.
        await service.ensure_default_model(load=False)
        heartbeat = asyncio.create_task(_keep_claims_alive(queue, worker_id))
        yield App(
            settings,
            database,
            store,
            active_engine,
            service,
            runner,
            worker_id,
            queue=queue,
            watch=watch,
            progress=progress,
            rating=RatingService(database, store, active_engine),
            privacy=PrivacyService(database, store, settings.profiles_dir.resolve()),
            preferences=Preferences(database, settings),
            accounts=Accounts(database, settings),
            moderation=Moderation(database, settings),
            data_jobs=DataJobs(service, settings),
            profiles=Profiles(database, settings),
        )
    finally:
        await watch.close()
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if own_engine:
            await active_engine.close()
        await database.dispose()


async def _keep_claims_alive(queue: JobQueue, worker_id: str) -> None:
    """Renew this process's claims until cancelled, for as long as the process lives."""
    interval = queue.lease_seconds / 3
    while True:
        await asyncio.sleep(interval)
        try:
            await queue.renew(worker_id)
        except Exception:
            log.warning("could not renew job claims", exc_info=True)
