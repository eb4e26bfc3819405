"""The in-process engine: models loaded and run on one worker thread, off the event loop."""

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from PIL.Image import Image

from engine.adapters import ADAPTERS_KEPT
from engine.batching import DrawCounts, WaitingLine, WaitingRequest
from engine.device import Accelerators, select_device, select_dtype
from engine.embedded import model_source
from engine.errors import EngineError
from engine.generation import generate_images, generate_together, shared_call_key
from engine.imaging import enlarge, fit_to_multiple, resize_to
from engine.info import count_prompt_tokens
from engine.loader import LoadedModel, load_model
from engine.protocol import Engine
from engine.types import (
    DEFAULT_BATCH_IMAGES,
    GenerationRequest,
    ModelInfo,
    Progress,
    ProgressCallback,
    ScoreRequest,
)

T = TypeVar("T")


def _ignore_progress(progress: Progress) -> None:
    pass


class LocalEngine(Engine):
    """Runs diffusers pipelines on one device of this machine.

    All model work, loading included, happens on a single worker thread: it keeps the event
    loop free (Discord's interaction deadline holds however long a generation takes), and it
    runs one pipeline call at a time on the device, in the order asked. Make one engine per
    device.

    Text-to-image requests that wait for the worker together are drawn together: when the
    worker comes to the first of them, it draws in the same pipeline call every waiting one that
    can share it (`shared_call_key`), up to `batch_images` images. Several people's grids then
    cost little more than one. A request that finds the worker free may wait `gather_seconds`
    for others to join it (none by default: a lone request is drawn at once).
    """

    def __init__(
        self,
        cache_dir: Path,
        device: str = "auto",
        dtype: str = "auto",
        batch_images: int = DEFAULT_BATCH_IMAGES,
        gather_seconds: float = 0.0,
        threads: int | None = None,
        adapters_kept: int = ADAPTERS_KEPT,
    ) -> None:
        """`threads`: CPU threads torch may use in this process (None: torch's default, every
        core); several torch processes on one machine with every core each thrash.
        `adapters_kept`: LoRA adapters each model keeps loaded (the least recently used goes)."""
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self._line = WaitingLine(batch_images, gather_seconds)
        # Written on the worker thread only.
        self._counts = DrawCounts()
        available = Accelerators.detect()
        self._device = select_device(device, available)
        self._dtype = select_dtype(dtype, self._device, available)
        self._cache_dir = cache_dir
        self._adapters_kept = adapters_kept
        self._worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"pickloop-engine-{self._device}"
        )
        # Written only on the worker thread; the loop only reads entries already there.
        self._models: dict[str, LoadedModel] = {}
        self._closed = False

    @property
    def device(self) -> str:
        """The device the engine draws on: "cuda", "mps" or "cpu"."""
        return self._device

    async def describe(self, model: str) -> ModelInfo:
        return (await self._loaded(model)).info

    async def count_tokens(self, model: str, text: str) -> int:
        # Counted here, not on the worker, so a new request need not wait for a generation.
        return count_prompt_tokens((await self._loaded(model)).counting_tokenizer, text)

    async def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image]:
        if shared_call_key(request) is None:
            report = self._relay(on_progress)
            return await self._on_worker(
                lambda: generate_images(self._model(request.model), request, report)
            )
        (images,) = self.draw_together([(request, on_progress)])
        return await images

    def draw_together(
        self, entries: Sequence[tuple[GenerationRequest, ProgressCallback | None]]
    ) -> list[asyncio.Future[list[Image]]]:
        """Put text-to-image requests in line at once, so that those which can share a pipeline
        call are drawn in one whatever the worker is busy with (a Serve replica hands over the
        grids it gathered this way); one future of images per request, in order. Cancelling a
        future gives up a request that is still waiting."""
        if self._closed:
            raise EngineError("the engine is closed")
        if any(shared_call_key(request) is None for request, _ in entries):
            raise ValueError("only text-to-image requests are drawn together")
        waiting = self._line.add([(request, self._relay(report)) for request, report in entries])
        # One turn of the worker per request: a turn draws the first request still waiting and
        # whatever can share its call, so by its own turn every request has been drawn. A turn
        # hands every error to the requests it drew; nothing is left to collect from the turn.
        for _ in waiting:
            self._worker.submit(self._draw_waiting)
        return [asyncio.wrap_future(w.images) for w in waiting]

    def draw_counts(self) -> DrawCounts:
        """What the worker has drawn so far (a copy)."""
        caches = [model.adapters for model in list(self._models.values())]
        return dataclasses.replace(
            self._counts,
            adapter_loads=sum(cache.loads for cache in caches),
            adapter_evictions=sum(cache.evictions for cache in caches),
        )

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
        report = self._relay(on_progress)

        def upscale_on_worker() -> Image:
            enlarged = enlarge(image, factor)
            if refine_strength <= 0:
                return enlarged
            loaded = self._model(model)
            multiple = loaded.info.size_multiple
            request = GenerationRequest(
                model=model,
                prompt=prompt,
                negative_prompt=negative_prompt,
                width=fit_to_multiple(enlarged.width, multiple),
                height=fit_to_multiple(enlarged.height, multiple),
                steps=steps,
                guidance=guidance,
                seeds=(seed,),
                init_image=enlarged,
                strength=refine_strength,
            )
            (refined,) = generate_images(loaded, request, report)
            return resize_to(refined, enlarged.size)

        return await self._on_worker(upscale_on_worker)

    async def preference_scores(self, request: ScoreRequest) -> list[float]:
        from engine.scoring import implicit_rewards

        def score_on_worker() -> list[float]:
            return implicit_rewards(self._model(request.model), request)

        return await self._on_worker(score_on_worker)

    def _draw_waiting(self) -> None:
        """On the worker: draw the first waiting request and those that can share its call."""
        batch = self._line.next_batch()
        if not batch:
            return
        try:
            model = self._model(batch[0].request.model)

            def report_to_all(progress: Progress) -> None:
                for waiting in batch:
                    waiting.report(progress)

            drawn = generate_together(model, [w.request for w in batch], report_to_all)
            self._counts.add_call(len(batch), sum(len(w.request.seeds) for w in batch))
        except Exception as error:
            if len(batch) == 1:
                batch[0].images.set_exception(error)
                return
            # One request's trouble (out of memory for the whole batch, say) must not fail
            # the others: each is drawn again on its own.
            for waiting in batch:
                self._draw_alone(waiting)
            return
        for waiting, images in zip(batch, drawn, strict=True):
            waiting.images.set_result(images)

    def _draw_alone(self, waiting: WaitingRequest) -> None:
        try:
            model = self._model(waiting.request.model)
            images = generate_images(model, waiting.request, waiting.report)
            self._counts.add_call(1, len(images))
            waiting.images.set_result(images)
        except Exception as error:
            waiting.images.set_exception(error)

    async def run_on_engine_thread(self, work: Callable[[], T]) -> T:
        """Run other torch work of this process (fine-tuning, say) on the engine's thread, in
        turn with the generations.

        On a CPU, torch runs about half as fast (measured on a 2-core machine) for as long as a
        second thread of the process has used it: each thread that calls torch keeps a pool of
        OpenMP threads of its own, and the pools fight over the cores. One thread for all of it
        keeps every generation and every training step at full speed.
        """
        return await self._on_worker(work)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Queued behind the work in flight, and nothing can be queued after it: once the models
        # are freed the worker is idle, so shutting it down does not hold up the event loop.
        await asyncio.get_running_loop().run_in_executor(self._worker, self._models.clear)
        self._worker.shutdown()

    async def _loaded(self, spec: str) -> LoadedModel:
        """A loaded model at once, even while the worker is busy; loading goes to the worker."""
        # Entries are only ever added (by the worker), so reading one from the loop is safe.
        loaded = self._models.get(spec)
        if loaded is None:
            loaded = await self._on_worker(partial(self._model, spec))
        return loaded

    def _model(self, spec: str) -> LoadedModel:
        if spec not in self._models:
            source = model_source(spec, self._cache_dir)
            self._models[spec] = load_model(source, self._device, self._dtype, self._adapters_kept)
        return self._models[spec]

    async def _on_worker(self, work: Callable[[], T]) -> T:
        if self._closed:
            raise EngineError("the engine is closed")
        # The running loop is looked up per call, never kept: callers may come from several.
        return await asyncio.get_running_loop().run_in_executor(self._worker, work)

    @staticmethod
    def _relay(on_progress: ProgressCallback | None) -> Callable[[Progress], None]:
        """A reporter for the worker thread that calls `on_progress` on the caller's loop."""
        if on_progress is None:
            return _ignore_progress
        loop = asyncio.get_running_loop()

        def report(progress: Progress) -> None:
            loop.call_soon_threadsafe(on_progress, progress)

        return report
