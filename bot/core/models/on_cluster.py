"""Fine-tuning as a task on the Ray cluster (``pickloop train --on-cluster``).

The worker that runs the job stays where the database is; the training goes to a machine of
the cluster with a GPU free. The dataset travels with the task (a folder's files through the
object store; a hub dataset is loaded there), the trainer runs there in a scratch folder, and
the adapter comes back as its files and the SHA-256 of its weights, checked here before the
folder is written. Imported only for such a job: ray is an extra.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.util.queue import Empty, Queue

from bot.config import Settings
from bot.core.errors import UserError
from bot.core.models.fine_tune import FineTuned, fine_tune
from engine.adapters import WEIGHTS
from engine.errors import EngineError, EngineUnavailable
from engine.folders import publish_folder
from engine.ray_serve.cluster import connect, default_gpus_per_replica
from engine.train.options import TrainingOptions
from storage.parameters import FineTuneRequest

# How often the job's steps are looked for while the task trains.
_STEP_POLL_SECONDS = 0.5


def train_on_cluster(
    options: TrainingOptions,
    request: FineTuneRequest,
    settings: Settings,
    on_step: Callable[[int, int], None],
) -> FineTuned:
    """Train ``request`` as a task of the cluster at PICKLOOP_RAY_ADDRESS asking for
    PICKLOOP_ENGINE_GPUS_PER_REPLICA GPUs (one where it has GPUs), and write its adapter into
    ``request.out``. EngineUnavailable when the cluster cannot be reached."""
    connect(settings.ray_address)
    gpus = settings.engine_gpus_per_replica
    if gpus is None:
        gpus = default_gpus_per_replica()
    data = _packed(Path(request.data)) if Path(request.data).is_dir() else None
    steps: Queue = Queue(actor_options={"num_cpus": 0})
    try:
        task = _train.options(num_gpus=gpus, num_cpus=0 if gpus else 1).remote(
            options.model_dump(mode="json"),
            request.data,
            ray.put(data) if data is not None else None,
            request.model,
            _without_secrets(settings),
            steps,
        )
        while not ray.wait([task], timeout=_STEP_POLL_SECONDS)[0]:
            _forward(steps, on_step)
        _forward(steps, on_step)
        try:
            trained: dict[str, Any] = ray.get(task)
        except ray.exceptions.RayTaskError as error:
            cause = error.cause
            if isinstance(cause, UserError):
                raise UserError(str(cause)) from error
            raise EngineError.wrapping("training on the cluster failed", cause) from error
        except ray.exceptions.RayError as error:
            raise EngineUnavailable.wrapping("training on the cluster was lost", error) from error
    finally:
        steps.shutdown(force=True)
    _write_adapter(Path(request.out), trained["files"], trained["sha256"])
    done: FineTuned = trained["done"]
    return dataclasses.replace(done, adapter=Path(request.out))


@ray.remote(max_retries=0)
def _train(
    options: dict[str, Any],
    data_name: str,
    data: dict[str, bytes] | None,
    model: str,
    settings: Settings,
    steps: Queue,
) -> dict[str, Any]:
    """On a machine of the cluster: the fine-tune in a scratch folder, its adapter returned."""
    if settings.torch_threads is not None:
        import torch

        torch.set_num_threads(settings.torch_threads)
    with tempfile.TemporaryDirectory(prefix="pickloop-fine-tune-") as scratch:
        source = data_name
        if data is not None:
            source = str(_unpacked(data, Path(scratch) / "data"))
        out = Path(scratch) / "adapter"
        done = fine_tune(
            TrainingOptions.model_validate(options),
            source,
            out,
            settings=settings,
            model=model,
            work=Path(scratch) / "work",
            progress=False,
            on_step=lambda step, total: steps.put_nowait((step, total)),
            data_name=data_name,
        )
        files = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    return {
        "done": done,
        "files": files,
        "sha256": hashlib.sha256(files[WEIGHTS]).hexdigest(),
    }


def _forward(steps: Queue, on_step: Callable[[int, int], None]) -> None:
    while True:
        try:
            step, total = steps.get_nowait()
        except Empty:
            return
        on_step(step, total)


def _packed(folder: Path) -> dict[str, bytes]:
    """A dataset folder's files by their path inside it."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _unpacked(files: dict[str, bytes], folder: Path) -> Path:
    for name, content in files.items():
        target = (folder / name).resolve()
        if not target.is_relative_to(folder.resolve()):
            raise ValueError(f"a dataset file escapes its folder: {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return folder


def _without_secrets(settings: Settings) -> Settings:
    # The task needs the model and device settings; tokens, keys and a database password stay.
    return settings.model_copy(
        update={"discord_token": None, "export_secret": None, "database_url": ""}
    )


def _write_adapter(out: Path, files: dict[str, bytes], sha256: str) -> None:
    """The adapter's files into ``out``, once its weights are the bytes the task trained."""
    if hashlib.sha256(files.get(WEIGHTS, b"")).hexdigest() != sha256:
        raise EngineError("the adapter trained on the cluster arrived damaged (SHA-256 differs)")

    def fill(staging: Path) -> None:
        for name, content in files.items():
            (staging / name).write_bytes(content)

    # Run again after its worker died: this training's adapter replaces the last one.
    publish_folder(out, fill, replace_existing=True)
