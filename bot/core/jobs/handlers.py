"""Job kinds and what runs them: one handler per kind, in a registry the application fills.

The runner claims a job, asks the handler of its kind to do the work, and writes what the
handler made in the transaction that marks the job done. Picture kinds (imagine, variation,
reroll, upscale) share the picture handler (``bot.core.jobs.pictures``); data kinds (export,
fine-tune) have theirs in ``bot.core.data``, a layer above, which is why the registry is handed
in rather than imported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.types import ProgressCallback
from storage.models import Image, Job, JobKind


@dataclass(frozen=True)
class JobResult:
    """What a job made, written when it is marked done: its pictures (rows without a job yet)
    and grid, or a data job's outcome."""

    images: Sequence[Image] = field(default_factory=tuple)
    grid_sha256: str | None = None
    outcome: dict[str, Any] | None = None


class JobHandler(Protocol):
    async def run(self, job: Job, on_progress: ProgressCallback | None) -> JobResult:
        """Do the job's work (again, after a crash: it must be repeatable) and say what it made;
        an exception fails the job with its message."""
        ...


Handlers = Mapping[JobKind, JobHandler]
