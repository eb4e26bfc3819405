"""What a loaded pipeline tells about itself: native size, size steps, prompt limit."""

from typing import Any

from diffusers import DiffusionPipeline

from engine.types import ModelInfo


def describe_pipeline(source: str, pipeline: DiffusionPipeline) -> ModelInfo:
    scale: int = pipeline.vae_scale_factor
    unet = getattr(pipeline, "unet", None)
    if unet is not None:
        sample_size = unet.config.sample_size
        # Every UNet block but the last halves the latents once more.
        size_multiple = scale * 2 ** (len(unet.config.block_out_channels) - 1)
    else:
        # Transformer models (SD3, FLUX) patchify their latents 2x2.
        sample_size = pipeline.default_sample_size
        size_multiple = scale * 2
    height, width = (sample_size, sample_size) if isinstance(sample_size, int) else sample_size
    return ModelInfo(
        source=source,
        native_width=width * scale,
        native_height=height * scale,
        size_multiple=size_multiple,
        max_prompt_tokens=pipeline.tokenizer.model_max_length,
    )


def count_prompt_tokens(tokenizer: Any, text: str) -> int:
    # Not verbose: prompts beyond the limit are what the caller counts tokens to find out.
    return len(tokenizer(text, verbose=False).input_ids)
