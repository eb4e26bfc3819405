"""What a model tells about itself: native size, size steps, prompt limit.

Torch-free: the same facts come from a loaded pipeline (``describe_pipeline``) and from a
pipeline folder's config files (``engine.model_files``), through one formula.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from engine.prompt_weights import weighted_family
from engine.types import ModelInfo

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline


def unet_model_info(
    source: str, *, vae_scale: int, sample_size: int | list[int], unet_blocks: int, max_tokens: int
) -> ModelInfo:
    """A UNet pipeline's facts from its configs: every UNet block but the last halves the
    latents once more, so sizes step by the VAE's scale times that."""
    size_multiple = vae_scale * 2 ** (unet_blocks - 1)
    return _model_info(source, vae_scale, sample_size, size_multiple, max_tokens)


def describe_pipeline(source: str, pipeline: DiffusionPipeline) -> ModelInfo:
    scale: int = pipeline.vae_scale_factor
    max_tokens: int = pipeline.tokenizer.model_max_length
    unet = getattr(pipeline, "unet", None)
    if unet is not None:
        return unet_model_info(
            source,
            vae_scale=scale,
            sample_size=unet.config.sample_size,
            unet_blocks=len(unet.config.block_out_channels),
            max_tokens=max_tokens,
        )
    # Transformer models (SD3, FLUX) patchify their latents 2x2; they cannot tile (no UNet
    # convolutions to wrap), nor take prompt weights (engine.conditioning).
    info = _model_info(source, scale, pipeline.default_sample_size, scale * 2, max_tokens)
    weights = weighted_family(type(pipeline).__name__) is not None
    return dataclasses.replace(info, takes_prompt_weights=weights, tiles=False)


def _model_info(
    source: str, scale: int, sample_size: int | list[int], size_multiple: int, max_tokens: int
) -> ModelInfo:
    height, width = (sample_size, sample_size) if isinstance(sample_size, int) else sample_size
    return ModelInfo(
        source=source,
        native_width=width * scale,
        native_height=height * scale,
        size_multiple=size_multiple,
        max_prompt_tokens=max_tokens,
    )


def count_prompt_tokens(tokenizer: Any, text: str) -> int:
    # Not verbose: prompts beyond the limit are what the caller counts tokens to find out.
    return len(tokenizer(text, verbose=False).input_ids)
