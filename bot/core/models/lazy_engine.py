"""The engine, built when something first needs it.

Many commands only read or write the database (``jobs``, ``show``, ``react``, ``rate``,
``models list``): they should not pay the seconds torch and diffusers take to import, so the
application holds this stand-in and the real engine is made on the first request for a model.
Until then, a model's size and prompt limit are read from its files where they can be
(``engine.model_files``): queueing a grid needs those, not the model.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL.Image import Image

from engine.model_files import ModelFiles
from engine.protocol import Engine
from engine.types import GenerationRequest, ModelInfo, ProgressCallback, ScoreRequest


class EngineOnFirstUse(Engine):
    def __init__(self, build: Callable[[], Engine], files: ModelFiles | None = None) -> None:
        self._build = build
        self._files = files
        self._engine: Engine | None = None

    @property
    def built(self) -> bool:
        return self._engine is not None

    def _get(self) -> Engine:
        if self._engine is None:
            self._engine = self._build()
        return self._engine

    async def describe(self, model: str) -> ModelInfo:
        if self._engine is None and self._files is not None:
            known = self._files.describe(model)
            if known is not None:
                return known
        return await self._get().describe(model)

    async def count_tokens(self, model: str, text: str) -> int:
        if self._engine is None and self._files is not None:
            counted = self._files.count_tokens(model, text)
            if counted is not None:
                return counted
        return await self._get().count_tokens(model, text)

    async def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image]:
        return await self._get().generate(request, on_progress)

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
        return await self._get().upscale(
            model,
            image,
            factor=factor,
            refine_strength=refine_strength,
            prompt=prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            steps=steps,
            guidance=guidance,
            on_progress=on_progress,
        )

    async def preference_scores(self, request: ScoreRequest) -> list[float]:
        return await self._get().preference_scores(request)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.close()
