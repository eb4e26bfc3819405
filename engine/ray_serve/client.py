"""``RayEngine``: the ``Engine`` interface over the cluster's Serve applications."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import ray
from PIL.Image import Image
from ray import serve
from ray.exceptions import RayTaskError
from ray.serve.exceptions import (
    BackPressureError,
    DeploymentUnavailableError,
    ReplicaUnavailableError,
)
from ray.serve.handle import DeploymentHandle, DeploymentResponse, DeploymentResponseGenerator

from engine.errors import EngineError, EngineUnavailable
from engine.ray_serve.application import app_name
from engine.ray_serve.cluster import cluster_resources, connect
from engine.ray_serve.shipping import AdapterSender
from engine.types import GenerationRequest, ModelInfo, Progress, ProgressCallback, ScoreRequest

log = logging.getLogger(__name__)


# A request whose replica died (killed, out of memory, its machine gone) is sent again, with
# the same seeds, and Serve's router gives it to a replica still alive; these many tries in all.
_TRIES = 3
_RETRY_PAUSE_SECONDS = 1.0

# The replica, or its machine, is gone: another replica can do the work.
_REPLICA_LOST: tuple[type[BaseException], ...] = (
    ray.exceptions.RayActorError,
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.OutOfMemoryError,
    ray.exceptions.ObjectLostError,
    ReplicaUnavailableError,
    DeploymentUnavailableError,
    BackPressureError,
)
# This process has lost the cluster itself.
_CLUSTER_LOST: tuple[type[BaseException], ...] = (
    ray.exceptions.LocalRayletDiedError,
    ray.exceptions.RaySystemError,
    ConnectionError,
)


# While joined, the cluster is asked this often whether it is still there (see ``_watch``).
WATCH_SECONDS = 10.0


class _ReplicaLost(Exception):
    pass


class RayEngine:
    """Sends each request to a replica of its model's application on the Ray cluster at
    ``address``, joined on first use (and again after it was lost). Steps stream back as they
    are drawn; giving up on a request (its task cancelled) cancels it on the replica. A replica
    that dies mid-request is replaced by another for it; a cluster that cannot be reached is
    ``EngineUnavailable``: the work can wait for it."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._handles: dict[str, DeploymentHandle[Any]] = {}
        self._adapters = AdapterSender()
        self._watching: asyncio.Task[None] | None = None

    async def describe(self, model: str) -> ModelInfo:
        info: ModelInfo = await self._call(model, "describe", model)
        return info

    async def count_tokens(self, model: str, text: str) -> int:
        tokens: int = await self._call(model, "count_tokens", model, text)
        return tokens

    async def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image]:
        parcel = None
        if request.adapter is not None:
            await self._handle(request.model)  # joined: the parcel goes to its object store
            parcel = self._adapters.parcel(request.adapter)
        arguments = (replace(request, adapter=None), parcel)
        images: list[Image] = await self._streamed(
            request.model, "generate", arguments, on_progress
        )
        return images

    async def upscale(
        self,
        model: str,
        image: Image,
        *,
        factor: int = 2,
        refine_strength: float = 0.0,
        prompt: str = "",
        negative_prompt: str = "",
        seed: int = 0,
        steps: int = 20,
        guidance: float = 7.5,
        on_progress: ProgressCallback | None = None,
    ) -> Image:
        options: dict[str, Any] = {
            "factor": factor,
            "refine_strength": refine_strength,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "seed": seed,
            "steps": steps,
            "guidance": guidance,
        }
        upscaled: Image = await self._streamed(
            model, "upscale", (model, image, options), on_progress
        )
        return upscaled

    async def preference_scores(self, request: ScoreRequest) -> list[float]:
        await self._handle(request.model)  # joined: the parcel goes to its object store
        parcel = self._adapters.parcel(request.adapter)
        scores: list[float] = await self._call(
            request.model, "preference_scores", replace(request, adapter=""), parcel
        )
        return scores

    async def close(self) -> None:
        # The applications stay deployed for other processes; this process only lets go.
        self._handles.clear()
        if self._watching is not None:
            self._watching.cancel()

    async def _handle(self, model: str) -> DeploymentHandle[Any]:
        if not ray.is_initialized():
            self._handles.clear()
            # Off the event loop: joining takes seconds, and a front end keeps answering.
            await asyncio.to_thread(connect, self._address)
        if self._watching is None or self._watching.done():
            self._watching = asyncio.create_task(self._watch())
        name = app_name(model)
        if name not in self._handles:
            try:
                self._handles[name] = await asyncio.to_thread(serve.get_app_handle, name)
            except _CLUSTER_LOST as error:
                raise self._lost(error) from error
            except Exception as error:
                raise EngineUnavailable.wrapping(
                    f"no engine serves {model} on the cluster (pickloop engine serve --model "
                    f"{model} deploys one)",
                    error,
                ) from error
        return self._handles[name]

    async def _call(self, model: str, method: str, *arguments: Any) -> Any:
        handle = await self._handle(model)
        try:
            return await getattr(handle, method).remote(*arguments)
        except Exception as error:
            raise self._translated(error) from error

    async def _streamed(
        self,
        model: str,
        method: str,
        arguments: tuple[Any, ...],
        on_progress: ProgressCallback | None,
    ) -> Any:
        """A streamed call, sent again while its replica dies and tries are left."""
        for tried in range(1, _TRIES + 1):
            handle = await self._handle(model)
            stream = getattr(handle.options(stream=True), method).remote(*arguments)
            try:
                return await _outcome(stream, on_progress)
            except _ReplicaLost as lost:
                if tried == _TRIES:
                    raise EngineUnavailable.wrapping(
                        f"the engine's replicas kept failing ({tried} tries)", lost
                    ) from lost
                log.warning("an engine replica died during a request; sending it again")
                await asyncio.sleep(_RETRY_PAUSE_SECONDS)
            except Exception as error:
                raise self._translated(error) from error
        raise AssertionError("unreachable")

    async def _watch(self) -> None:
        """Let go of a cluster that stopped answering: a Ray driver whose cluster is gone ends
        its own process within a minute, also one that asks nothing meanwhile (a bot between
        grids). The next request joins again."""
        while ray.is_initialized():
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await asyncio.wait_for(asyncio.to_thread(cluster_resources), WATCH_SECONDS)
            except Exception as error:
                log.warning("the Ray cluster at %s stopped answering: %s", self._address, error)
                self._lost(error)
                return

    def _translated(self, error: Exception) -> Exception:
        """What the application sees of a failure: the engine's own error as it is, a lost
        cluster as EngineUnavailable (and this process lets go of it)."""
        if isinstance(error, EngineError):
            return error
        if isinstance(error, RayTaskError) and isinstance(error.cause, EngineError):
            # The replica's own one-line error, without Ray's traceback around it.
            return type(error.cause)(str(error.cause))
        if isinstance(error, _CLUSTER_LOST):
            return self._lost(error)
        if isinstance(error, (_ReplicaLost, *_REPLICA_LOST)):
            return EngineUnavailable.wrapping("the engine's replica is gone", error)
        return EngineError.wrapping("the engine cluster failed", error)

    def _lost(self, error: BaseException) -> EngineUnavailable:
        # A Ray driver whose cluster is gone ends its own process within a minute; letting go
        # keeps this one (a bot answering Discord) alive, and the next request joins again.
        self._handles.clear()
        # Its parcels' bytes were in the lost cluster's object store.
        self._adapters = AdapterSender()
        with contextlib.suppress(Exception):
            ray.shutdown()
        return EngineUnavailable.wrapping(f"lost the Ray cluster at {self._address}", error)


async def _outcome(
    stream: DeploymentResponseGenerator[Any] | DeploymentResponse[Any],
    on_progress: ProgressCallback | None,
) -> Any:
    """What a replica's stream ends with, its steps handed to ``on_progress`` on the way."""
    if not isinstance(stream, DeploymentResponseGenerator):
        raise TypeError("a replica's answer is streamed: call it with stream=True")
    try:
        async for item in stream:
            if not isinstance(item, Progress):
                return item
            if on_progress is not None:
                on_progress(item)
    except asyncio.CancelledError:
        cancel: Callable[[], None] = stream.cancel
        cancel()
        raise
    except _REPLICA_LOST as error:
        raise _ReplicaLost(str(error)) from error
    raise EngineError("the engine's replica ended its answer without a picture")
