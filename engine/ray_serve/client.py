"""``RayEngine``: the ``Engine`` interface over the cluster's Serve application."""

from __future__ import annotations

from typing import Any

from PIL.Image import Image
from ray import serve

from engine.errors import EngineError
from engine.ray_serve.application import APP_NAME
from engine.types import GenerationRequest, ModelInfo, ProgressCallback


class RayEngine:
    """Sends each request to a replica of the application ``APP_NAME`` deployed on the cluster
    this process is connected to (``ray.init``). Steps are not reported yet: ``on_progress``
    is not called."""

    def __init__(self, app_name: str = APP_NAME) -> None:
        try:
            self._handle = serve.get_app_handle(app_name)
        except Exception as error:
            raise EngineError.wrapping(
                f"the Serve application {app_name!r} is not deployed on this cluster", error
            ) from error

    async def describe(self, model: str) -> ModelInfo:
        info: ModelInfo = await self._handle.describe.remote(model)
        return info

    async def count_tokens(self, model: str, text: str) -> int:
        tokens: int = await self._handle.count_tokens.remote(model, text)
        return tokens

    async def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image]:
        images: list[Image] = await self._handle.generate.remote(request)
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
        upscaled: Image = await self._handle.upscale.remote(model, image, options)
        return upscaled

    async def close(self) -> None:
        # The application stays deployed for other processes; this process only lets go.
        return None
