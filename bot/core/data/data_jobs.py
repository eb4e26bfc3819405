"""Asking for data work: export and fine-tune jobs, checked before they are queued.

What the work is and how it runs is in ``exports`` and ``training_jobs``; here a request is
refused (an unknown format, no secret, data that is not there) before anything is written,
and becomes a queued job with everything its worker needs to know.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.data.exports import check_secret, checked_format, export_folder, time_stamp
from bot.core.errors import UserError
from bot.core.jobs.job_view import JobView
from bot.core.jobs.service import JobService
from bot.core.models.fine_tune import default_work, training_source
from engine.train.options import Method, TrainingOptions
from storage.models import JobKind
from storage.parameters import ExportRequest, FineTuneRequest, JobParameters

# The export layout each method trains on.
LAYOUT_OF: dict[Method, str] = {"dpo": "pairs", "kto": "kto"}


class DataJobs:
    def __init__(self, service: JobService, settings: Settings) -> None:
        self._service = service
        self._settings = settings

    async def export(self, actor: Actor, format_name: str, out: Path | None = None) -> JobView:
        """Queue an export into ``out`` (default: a new folder under the data folder's
        exports)."""
        request = self._export_request(format_name, out)
        return await self._service.queue_data_job(
            actor, JobKind.EXPORT, JobParameters.for_data(export=request)
        )

    async def fine_tune(
        self,
        actor: Actor,
        options: TrainingOptions,
        *,
        data: str | None = None,
        out: Path | None = None,
        work: Path | None = None,
        model: str | None = None,
        on_cluster: bool = False,
    ) -> JobView:
        """Queue a fine-tune on ``data`` (default: the newest export of the method's layout)
        into ``out`` (default: a new folder under the data folder's adapters), resumable from
        ``work``; ``model`` is the base (default: the configured model). ``on_cluster``: train
        as a task on the Ray cluster, which writes the adapter back here."""
        if on_cluster and importlib.util.find_spec("ray") is None:
            raise UserError("training on the cluster needs Ray: pip install 'pickloop[ray]'")
        request = self._fine_tune_request(options, data, out, work, model)
        if on_cluster:
            request = request.model_copy(update={"on_cluster": True})
        return await self._service.queue_data_job(
            actor, JobKind.FINE_TUNE, JobParameters.for_data(fine_tune=request), model=model
        )

    def _export_request(self, format_name: str, out: Path | None) -> ExportRequest:
        chosen = checked_format(format_name)
        check_secret(self._settings)
        folder = (out or export_folder(self._settings, chosen)).resolve()
        if folder.exists():
            raise UserError(f"{folder} already exists: an export goes to a new folder.")
        return ExportRequest(format=chosen, out=str(folder))

    def _fine_tune_request(
        self,
        options: TrainingOptions,
        data: str | None,
        out: Path | None,
        work: Path | None,
        model: str | None,
    ) -> FineTuneRequest:
        source = data if data is not None else str(self.newest_export(LAYOUT_OF[options.method]))
        training_source(source, options.method)  # refuses data it could not train on
        folder = (out or self._adapter_folder(options.method)).resolve()
        return FineTuneRequest(
            # A folder as an absolute path: the worker that runs the job has its own working folder.
            data=str(Path(source).resolve()) if Path(source).is_dir() else source,
            out=str(folder),
            work=str((work or default_work(folder)).resolve()),
            model=model or self._settings.model,
            training=options.model_dump(mode="json"),
        )

    def export_named(self, name: str) -> Path:
        """An export folder of the data folder, by its name (as ``/admin export`` gave it)."""
        exports = (self._settings.data_dir / "exports").resolve()
        folder = (exports / name).resolve()
        if folder.parent != exports or not (folder / "README.md").is_file():
            raise UserError(f"There is no export called {name!r}.")
        return folder

    def newest_export(self, layout: str) -> Path:
        exports = self._settings.data_dir / "exports"
        # Export folders are named by layout and time, so the newest sorts last; one still being
        # written (or left by a crash) has no card yet.
        done = sorted(
            folder
            for folder in exports.glob(f"{layout}-*")
            if folder.is_dir() and (folder / "README.md").is_file()
        )
        if not done:
            raise UserError(f"There is no {layout} export to train on yet: export {layout} first.")
        return done[-1].resolve()

    def _adapter_folder(self, method: Method) -> Path:
        return self._settings.data_dir / "adapters" / f"{method}-{time_stamp()}"
