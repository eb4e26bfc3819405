"""The line of text-to-image requests waiting for the engine's worker, and how the worker takes
its next batch from it: the first request in line and those that can share its pipeline call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from PIL.Image import Image

from engine.generation import shared_call_key
from engine.types import GenerationRequest, Progress


@dataclass
class WaitingRequest:
    request: GenerationRequest
    report: Callable[[Progress], None]
    images: Future[list[Image]] = field(default_factory=Future)
    """Resolved by the worker; cancelled by a caller who stopped waiting."""
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class DrawCounts:
    """What an engine's worker has drawn from its line since it started: the numbers an
    operator reads to see whether people's grids are being drawn together."""

    calls: int = 0
    """Pipeline calls made for text-to-image requests."""
    requests: int = 0
    images: int = 0
    shared_calls: int = 0
    """Calls that drew the requests of more than one caller together."""
    adapter_loads: int = 0
    """LoRA adapters loaded (again, for one evicted earlier) into the engine's models."""
    adapter_evictions: int = 0
    """Adapters deleted from a model to keep its loaded ones within bounds."""

    def add_call(self, requests: int, images: int) -> None:
        self.calls += 1
        self.requests += requests
        self.images += images
        if requests > 1:
            self.shared_calls += 1


class WaitingLine:
    """Filled from the event loop, emptied by the worker thread.

    `batch_images` bounds the images of one call. `gather_seconds` is how long the worker may
    hold the first request in line for others to join it, counted from that request's arrival:
    requests that come a moment apart (several jobs claimed one after another) then share a
    call, and a request that already waited behind other work waits no longer.
    """

    def __init__(self, batch_images: int, gather_seconds: float) -> None:
        if batch_images < 1:
            raise ValueError("batch_images must be at least 1")
        if gather_seconds < 0:
            raise ValueError("gather_seconds must not be negative")
        self._batch_images = batch_images
        self._gather_seconds = gather_seconds
        self._waiting: list[WaitingRequest] = []
        self._arrivals = threading.Condition()

    def add(
        self, entries: list[tuple[GenerationRequest, Callable[[Progress], None]]]
    ) -> list[WaitingRequest]:
        """Put requests in line at once: the worker sees all of them or none, so those that can
        share a call are drawn together whatever the worker was doing when they came."""
        waiting = [WaitingRequest(request, report) for request, report in entries]
        with self._arrivals:
            self._waiting.extend(waiting)
            self._arrivals.notify_all()
        return waiting

    def next_batch(self) -> list[WaitingRequest]:
        """The first request in line (always, however many images it has) and the next ones
        that can share its call while their images fit, taken out of line; empty when no one
        waits."""
        with self._arrivals:
            while True:
                self._waiting = [w for w in self._waiting if not w.images.cancelled()]
                batch = self._fitting()
                if not batch:
                    return []
                images = sum(len(w.request.seeds) for w in batch)
                left = batch[0].arrived + self._gather_seconds - time.monotonic()
                if images >= self._batch_images or left <= 0:
                    break
                self._arrivals.wait(left)
            for waiting in batch:
                self._waiting.remove(waiting)
        # A caller may give up at the last moment: only those still waiting are drawn.
        return [w for w in batch if w.images.set_running_or_notify_cancel()]

    def _fitting(self) -> list[WaitingRequest]:
        batch: list[WaitingRequest] = []
        images = 0
        for waiting in self._waiting:
            seeds = len(waiting.request.seeds)
            if batch and (
                shared_call_key(waiting.request) != shared_call_key(batch[0].request)
                or images + seeds > self._batch_images
            ):
                continue
            batch.append(waiting)
            images += seeds
        return batch
