"""Helpers shared by the engine tests."""

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine import GenerationRequest


def pixel_distance(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference of two same-sized images, in 0-255 levels."""
    difference = np.asarray(first, dtype=np.float32) - np.asarray(second, dtype=np.float32)
    return float(np.abs(difference).mean())


def grown(region: np.ndarray, pixels: int) -> np.ndarray:
    """A boolean region grown by ``pixels`` in every direction (not across the picture's edges
    for a region that stays off them; wrapping is good enough for a seam's margin)."""
    wider = region.copy()
    for axis in (0, 1):
        for shift in range(1, pixels + 1):
            wider |= np.roll(region, shift, axis) | np.roll(region, -shift, axis)
    return wider


def kept_distance(result: Image.Image, canvas_image: Image.Image, mask: Image.Image) -> float:
    """How far ``result`` moved from the canvas where the mask keeps it, off a 4-pixel seam."""
    drawn = np.asarray(mask) > 0
    kept = ~grown(drawn, 4)
    difference = np.abs(
        np.asarray(result, dtype=np.float32) - np.asarray(canvas_image, dtype=np.float32)
    )
    return float(difference.mean(axis=2)[kept].mean())


def drawn_distance(result: Image.Image, canvas_image: Image.Image, mask: Image.Image) -> float:
    """How far ``result`` moved from the canvas where the mask has the model draw."""
    drawn = np.asarray(mask) > 0
    difference = np.abs(
        np.asarray(result, dtype=np.float32) - np.asarray(canvas_image, dtype=np.float32)
    )
    return float(difference.mean(axis=2)[drawn].mean())


class RequestFactory:
    """Small, fast requests for one model, with any field changed."""

    def __init__(self, model: str) -> None:
        self.base = GenerationRequest(
            model=model,
            prompt="a red circle on a blue background",
            negative_prompt="",
            width=64,
            height=64,
            steps=3,
            guidance=7.5,
            seeds=(11, 12, 13, 14),
        )

    def __call__(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self.base, **changes)


def adapter_changes_pictures(
    pipeline: Any, adapter: Path, prompt: str = "a red circle", steps: int = 2
) -> bool:
    """Whether the adapter loads onto ``pipeline`` and makes it draw otherwise than before."""
    import torch

    def draw() -> bytes:
        generator = torch.Generator().manual_seed(0)
        image = pipeline(prompt, num_inference_steps=steps, generator=generator).images[0]
        return bytes(image.tobytes())

    before = draw()
    pipeline.load_lora_weights(adapter)
    return draw() != before
