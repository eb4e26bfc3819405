"""Loading any diffusers text-to-image model, and its image-to-image twin over the same weights."""

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DiffusionPipeline,
)

from engine.adapters import ADAPTERS_KEPT, LoadedAdapters
from engine.construction import MODULE_CONSTRUCTION
from engine.errors import EngineError
from engine.info import describe_pipeline
from engine.sources import local_folder
from engine.types import ModelInfo


@dataclass(frozen=True)
class LoadedModel:
    info: ModelInfo
    text_to_image: DiffusionPipeline
    image_to_image: DiffusionPipeline
    inpainting: DiffusionPipeline | None
    """Redraws the masked part of a picture, over the same weights; None for a model family
    diffusers has no inpainting pipeline for."""
    # A copy of the pipeline's tokenizer for counting prompt tokens on the event loop while
    # the worker generates: a fast tokenizer's state is not safe to share between threads.
    counting_tokenizer: Any
    # The LoRA adapters loaded into the pipelines, a bounded number (see engine.adapters).
    adapters: LoadedAdapters = field(default_factory=LoadedAdapters)


def load_model(
    source: str, device: str, dtype: torch.dtype, adapters_kept: int = ADAPTERS_KEPT
) -> LoadedModel:
    folder = local_folder(source)
    location = str(folder) if folder is not None else source
    local_only = folder is not None
    try:
        options: dict[str, Any] = {"dtype": dtype, "local_files_only": local_only}
        if "safety_checker" in DiffusionPipeline.load_config(location, local_files_only=local_only):
            options |= {"safety_checker": None, "requires_safety_checker": False}
        with MODULE_CONSTRUCTION:
            text_to_image = AutoPipelineForText2Image.from_pretrained(location, **options)
            image_to_image = AutoPipelineForImage2Image.from_pipe(text_to_image)
            inpainting = _inpainting(text_to_image)
        text_to_image.to(device)
    except Exception as error:
        # Whatever diffusers, the hub or the device raise, a model that cannot be had is one
        # kind of failure to the application.
        raise EngineError.wrapping(f"cannot load model {source}", error) from error
    for pipeline in (text_to_image, image_to_image, inpainting):
        if pipeline is not None:
            pipeline.set_progress_bar_config(disable=True)
    return LoadedModel(
        info=describe_pipeline(location, text_to_image),
        text_to_image=text_to_image,
        image_to_image=image_to_image,
        inpainting=inpainting,
        counting_tokenizer=copy.deepcopy(text_to_image.tokenizer),
        adapters=LoadedAdapters(capacity=adapters_kept),
    )


def _inpainting(text_to_image: DiffusionPipeline) -> DiffusionPipeline | None:
    # Diffusers' inpainting pipelines work with an ordinary (4-channel) UNet too: they keep the
    # unmasked part by putting its noised latents back after every step.
    try:
        return AutoPipelineForInpainting.from_pipe(text_to_image)
    except ValueError:
        # No inpainting twin for this family: editing tools are refused for it, by name.
        return None
