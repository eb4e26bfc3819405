"""Fine-tune jobs: ``pickloop train`` and ``/admin train`` queue them; a worker runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.config import Settings
from bot.core.jobs.handlers import JobResult
from bot.core.models.fine_tune import fine_tune
from engine.train.options import TrainingOptions
from engine.types import Progress, ProgressCallback
from storage.models import Job


class FineTuneHandler:
    """Trains the adapter a fine-tune job asks for, resuming from its checkpoints when the job
    is run again after its worker died."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

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
        # A thread of its own, not the engine's: pictures go on being drawn while it trains.
        done = await asyncio.to_thread(
            fine_tune,
            options,
            request.data,
            Path(request.out),
            settings=self._settings,
            model=request.model,
            work=Path(request.work),
            # Progress goes to the job (a CLI's bar, Discord's message), not the trainer's bar.
            progress=False,
            on_step=step_done,
        )
        return JobResult(outcome=done.to_json())
