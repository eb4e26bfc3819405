"""``RayEngine``: the ``Engine`` interface over the cluster's Serve applications."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PIL.Image import Image
from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponse, DeploymentResponseGenerator

from engine.errors import EngineError
from engine.ray_serve.application import app_name
from engine.types import GenerationRequest, ModelInfo, Progress, ProgressCallback


class RayEngine:
    """Sends each request to a replica of its model's application on the cluster this process
    is connected to (``engine.ray_serve.cluster.connect``). Steps stream back as they are drawn;
    giving up on a request (its task cancelled) cancels it on the replica."""

    def __init__(self) -> None:
        self._handles: dict[str, DeploymentHandle[Any]] = {}

    async def describe(self, model: str) -> ModelInfo:
        info: ModelInfo = await self._call(model, "describe", model)
        return info

    async def count_tokens(self, model: str, text: str) -> int:
        tokens: int = await self._call(model, "count_tokens", model, text)
        return tokens

    async def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image]:
        stream = self._handle(request.model).options(stream=True).generate.remote(request)
        images: list[Image] = await _outcome(stream, on_progress)
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
        stream = self._handle(model).options(stream=True).upscale.remote(model, image, options)
        upscaled: Image = await _outcome(stream, on_progress)
        return upscaled

    async def close(self) -> None:
        # The applications stay deployed for other processes; this process only lets go.
        self._handles.clear()

    def _handle(self, model: str) -> DeploymentHandle[Any]:
        name = app_name(model)
        if name not in self._handles:
            try:
                self._handles[name] = serve.get_app_handle(name)
            except Exception as error:
                raise EngineError.wrapping(
                    f"no engine serves {model} on the cluster (pickloop engine serve --model "
                    f"{model} deploys one)",
                    error,
                ) from error
        return self._handles[name]

    async def _call(self, model: str, method: str, *arguments: Any) -> Any:
        try:
            return await getattr(self._handle(model), method).remote(*arguments)
        except EngineError:
            raise
        except Exception as error:
            raise EngineError.wrapping("the engine cluster failed", error) from error


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
    except EngineError:
        raise
    except Exception as error:
        raise EngineError.wrapping("the engine cluster failed", error) from error
    raise EngineError("the engine's replica ended its answer without a picture")
