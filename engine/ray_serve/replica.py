"""One replica of the engine's Serve application: a ``LocalEngine`` on the replica's device.

Nothing of Discord or the database runs here. A replica loads the models it is asked for on
first use, as the local engine does, and draws the grids that reach it together when they can
share a pipeline call (the local engine's own batching).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL.Image import Image

from engine.local import LocalEngine
from engine.types import DEFAULT_BATCH_IMAGES, GenerationRequest, ModelInfo


@dataclass(frozen=True)
class ReplicaOptions:
    """How each replica builds its engine (the local engine's settings)."""

    cache_dir: str
    device: str = "auto"
    dtype: str = "auto"
    batch_images: int = DEFAULT_BATCH_IMAGES
    gather_seconds: float = 0.0
    # Torch threads per replica: several replicas on one machine's cores must share them.
    threads: int | None = None


class EngineReplica:
    """The deployment's class (``engine.ray_serve.application`` makes it a deployment)."""

    def __init__(self, options: ReplicaOptions) -> None:
        self._engine = LocalEngine(
            Path(options.cache_dir),
            device=options.device,
            dtype=options.dtype,
            batch_images=options.batch_images,
            gather_seconds=options.gather_seconds,
            threads=options.threads,
        )

    async def describe(self, model: str) -> ModelInfo:
        return await self._engine.describe(model)

    async def count_tokens(self, model: str, text: str) -> int:
        return await self._engine.count_tokens(model, text)

    async def generate(self, request: GenerationRequest) -> list[Image]:
        return await self._engine.generate(request)

    async def upscale(self, model: str, image: Image, options: dict[str, Any]) -> Image:
        return await self._engine.upscale(model, image, **options)
