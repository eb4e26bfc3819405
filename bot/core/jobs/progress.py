"""Progress of the jobs this process runs, for whoever in this process watches them (a Discord
message, a progress bar). Jobs run by another process show no steps here."""

from __future__ import annotations

from collections.abc import Callable

from engine import Progress, ProgressCallback


class ProgressHub:
    def __init__(self) -> None:
        self._watchers: dict[str, list[ProgressCallback]] = {}

    def watch(self, job_id: str, callback: ProgressCallback) -> Callable[[], None]:
        """Call ``callback`` with each step of the job; returns what stops it."""
        self._watchers.setdefault(job_id, []).append(callback)

        def stop() -> None:
            callbacks = self._watchers.get(job_id, [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                self._watchers.pop(job_id, None)

        return stop

    def reporter(self, job_id: str) -> ProgressCallback:
        """The callback a worker gives the engine: it reaches whoever watches at that step,
        also those who started watching after the job started."""

        def report(progress: Progress) -> None:
            for callback in list(self._watchers.get(job_id, ())):
                callback(progress)

        return report
