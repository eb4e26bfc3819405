"""What the application may ask of an engine, wherever the engine runs."""

from typing import Protocol

from PIL.Image import Image

from engine.types import GenerationRequest, ModelInfo, ProgressCallback, ScoreRequest


class Engine(Protocol):
    async def describe(self, model: str) -> ModelInfo:
        """The model's native size, size constraints and prompt limit (loads it if needed)."""
        ...

    async def count_tokens(self, model: str, text: str) -> int:
        """How many tokens `text` takes as a prompt of `model`, special tokens included."""
        ...

    async def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image]:
        """One image per seed of the request, in the order of its seeds."""
        ...

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
        """`image` enlarged `factor` times; above 0, `refine_strength` redraws details."""
        ...

    async def preference_scores(self, request: ScoreRequest) -> list[float]:
        """How much the request's adapter prefers each of its pictures to the base model (its
        implicit reward, ``engine.scoring``), in the order given."""
        ...

    async def close(self) -> None:
        """Free the models and stop the engine's workers."""
        ...
