"""One replica of the engine's Serve application: a ``LocalEngine`` on the replica's device.

Nothing of Discord or the database runs here. A replica loads its model when it starts, gathers
the grids that reach it together (``serve.batch``, bounded in images and in waiting time) and
hands them to its engine at once, which draws those that can share a pipeline call in one.
Every answer is a stream: the steps as they are drawn, then the pictures.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from PIL.Image import Image
from ray import serve

from engine.adapters import ADAPTERS_KEPT
from engine.generation import shared_call_key
from engine.local import LocalEngine
from engine.ray_serve.shipping import AdapterCache, AdapterParcel
from engine.types import (
    DEFAULT_BATCH_IMAGES,
    GenerationRequest,
    ModelInfo,
    Progress,
    ScoreRequest,
)

T = TypeVar("T")


@dataclass(frozen=True)
class ReplicaOptions:
    """How each replica builds its engine (the local engine's settings)."""

    model: str
    """The model the application serves, loaded when a replica starts."""
    cache_dir: str
    device: str = "auto"
    dtype: str = "auto"
    batch_images: int = DEFAULT_BATCH_IMAGES
    gather_seconds: float = 0.0
    """How long a grid that reaches an idle replica waits for others to share its call."""
    # Torch threads per replica: several replicas on one machine's cores must share them.
    threads: int | None = None
    # LoRA adapters (people's profiles) each replica keeps loaded.
    adapters_kept: int = ADAPTERS_KEPT


@dataclass(frozen=True)
class _Ticket:
    request: GenerationRequest
    report: Callable[[Progress], None]


def _images_of(tickets: list[_Ticket]) -> int:
    # What serve.batch bounds a batch by: the images of one pipeline call, as the engine does.
    return sum(len(ticket.request.seeds) for ticket in tickets)


# Steps are streamed at most this often (and the last one always): each item of a stream is
# a message through Ray, and a front end shows a step no more than every second or so.
STEP_INTERVAL_SECONDS = 0.2


async def _streamed(
    work: Callable[[Callable[[Progress], None]], Awaitable[T]],
) -> AsyncIterator[Any]:
    """Run ``work`` with a reporter and yield the steps it reports (the latest one, at most
    every ``STEP_INTERVAL_SECONDS``), then what it returns. Closing the stream (the caller
    gave up) cancels the work."""
    loop = asyncio.get_running_loop()
    steps: asyncio.Queue[Progress] = asyncio.Queue()
    task = asyncio.ensure_future(work(steps.put_nowait))
    last_sent = -STEP_INTERVAL_SECONDS
    try:
        while True:
            next_step = asyncio.ensure_future(steps.get())
            await asyncio.wait({task, next_step}, return_when=asyncio.FIRST_COMPLETED)
            if not next_step.done():
                next_step.cancel()
                break
            step = next_step.result()
            if step.step == step.total or loop.time() - last_sent >= STEP_INTERVAL_SECONDS:
                last_sent = loop.time()
                yield step
        # The work may end with its last steps still in line: the latest of them is due.
        latest = None
        while not steps.empty():
            latest = steps.get_nowait()
        if latest is not None:
            yield latest
        yield task.result()
    finally:
        task.cancel()


class EngineReplica:
    """The deployment's class (``engine.ray_serve.application`` makes it a deployment)."""

    # Ray allows an async __init__ for actors and Serve replicas; the model loads in it, so a
    # replica counts as running only once it can draw.
    async def __init__(self, options: ReplicaOptions) -> None:  # type: ignore[misc]
        self._options = options
        self._engine = LocalEngine(
            Path(options.cache_dir),
            device=options.device,
            dtype=options.dtype,
            batch_images=options.batch_images,
            # Serve gathers the grids that come together; the engine draws what it is handed.
            gather_seconds=0.0,
            threads=options.threads,
            adapters_kept=options.adapters_kept,
        )
        # serve.batch gives the method setters for its bounds (typed as a plain method).
        gathering: Any = self._gathered
        gathering.set_max_batch_size(options.batch_images)
        gathering.set_batch_wait_timeout_s(options.gather_seconds)
        self._adapters = AdapterCache(Path(options.cache_dir) / "adapters")
        self._ongoing = 0
        await self._engine.describe(options.model)

    async def describe(self, model: str) -> ModelInfo:
        return await self._engine.describe(model)

    async def count_tokens(self, model: str, text: str) -> int:
        return await self._engine.count_tokens(model, text)

    async def generate(
        self, asked: GenerationRequest, adapter: AdapterParcel | None = None
    ) -> AsyncIterator[Any]:
        """Streams the steps (``Progress``), then the pictures (a list of images). ``adapter``:
        the LoRA adapter to draw with, as it travelled (the request itself names none)."""

        async def draw(report: Callable[[Progress], None]) -> list[Image]:
            request = asked
            if adapter is not None:
                request = replace(asked, adapter=await self._adapters.folder_for(adapter))
            if shared_call_key(request) is None or len(request.seeds) > self._options.batch_images:
                return await self._engine.generate(request, report)
            drawn: list[Image] | BaseException = await self._gathered(_Ticket(request, report))
            if isinstance(drawn, BaseException):
                raise drawn
            return drawn

        async for item in self._counted(_streamed(draw)):
            yield item

    async def upscale(
        self, model: str, image: Image, options: dict[str, Any]
    ) -> AsyncIterator[Any]:
        """Streams the steps of a refine pass (``Progress``), then the enlarged image."""

        async def enlarge(report: Callable[[Progress], None]) -> Image:
            return await self._engine.upscale(model, image, **options, on_progress=report)

        async for item in self._counted(_streamed(enlarge)):
            yield item

    async def preference_scores(self, asked: ScoreRequest, adapter: AdapterParcel) -> list[float]:
        """The implicit rewards of ``adapter`` (as it travelled) for the request's pictures."""
        folder = await self._adapters.folder_for(adapter)
        return await self._engine.preference_scores(replace(asked, adapter=folder))

    @serve.batch(max_batch_size=DEFAULT_BATCH_IMAGES, batch_size_fn=_images_of)
    async def _gathered(self, tickets: list[_Ticket]) -> list[list[Image] | BaseException]:
        """The grids Serve gathered, handed to the engine at once; each one's pictures or its
        own error (one request's bad size must not fail the others)."""
        drawing = self._engine.draw_together([(t.request, t.report) for t in tickets])
        return list(await asyncio.gather(*drawing, return_exceptions=True))

    def record_routing_stats(self) -> dict[str, Any]:
        """This replica's device, load and draw counts. Serve calls it for its router;
        ``pickloop engine status`` reads it from each replica."""
        context = serve.get_replica_context()
        return {
            "replica": context.replica_id.unique_id,
            "model": self._options.model,
            "device": self._engine.device,
            "ongoing": self._ongoing,
            **asdict(self._engine.draw_counts()),
        }

    async def _counted(self, stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        self._ongoing += 1
        try:
            async for item in stream:
                yield item
        finally:
            self._ongoing -= 1
