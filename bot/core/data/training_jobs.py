"""Fine-tune jobs: ``pickloop train`` and ``/admin train`` queue them; a worker runs them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from bot.config import Settings
from bot.core.jobs.handlers import JobResult
from bot.core.models.fine_tune import FineTuned, fine_tune
from engine.train.options import TrainingOptions
from engine.types import Progress, ProgressCallback
from storage.models import Job

# Where a fine-tune's torch work runs: a thread of its own by default.
TrainingThread = Callable[[Callable[[], FineTuned]], Awaitable[FineTuned]]


class FineTuneHandler:
    """Trains the adapter a fine-tune job asks for, resuming from its checkpoints when the job
    is run again after its worker died."""

    def __init__(self, settings: Settings, thread: TrainingThread | None = None) -> None:
        self._settings = settings
        # A thread of its own, not the engine's: pictures go on being drawn while it trains.
        # A process that draws nothing meanwhile (the loop demo) may train on the engine's
        # thread instead, where torch runs faster on a CPU (LocalEngine.run_on_engine_thread).
        self._thread: TrainingThread = thread or _own_thread

    async def run(self, job: Job, on_progress: ProgressCallback | None) -> JobResult:
        request = job.parameters.fine_tune
        if request is None:
            raise RuntimeError("this fine-tune job was stored without what to train")
        options = TrainingOptions.model_validate(request.training)
        loop = asyncio.get_running_loop()

        def step_done(step: int, steps: int) -> None:
            if on_progress is not None:
                loop.call_soon_threadsafe(on_progress, Progress(step=step, total=steps))

        if request.on_cluster:
            from bot.core.models.on_cluster import train_on_cluster

            on_cluster = await asyncio.to_thread(
                train_on_cluster, options, request, self._settings, step_done
            )
            return JobResult(outcome=on_cluster.to_json())
        done = await self._thread(
            partial(
                fine_tune,
                options,
                request.data,
                Path(request.out),
                settings=self._settings,
                model=request.model,
                work=Path(request.work),
                # Progress goes to the job (a CLI's bar, Discord's message), not the trainer's.
                progress=False,
                on_step=step_done,
            )
        )
        return JobResult(outcome=done.to_json())


async def _own_thread(work: Callable[[], FineTuned]) -> FineTuned:
    return await asyncio.to_thread(work)
