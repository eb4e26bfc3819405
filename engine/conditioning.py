"""Weighted prompts drawn: compel turns them into the text embeddings a pipeline takes instead of
its prompt (``prompt_embeds``, and the pooled ones SDXL also takes).

compel knows the Stable Diffusion 1.x/2.x and SDXL text encoders; other families take no
weights, and the engine says so (``ModelInfo.takes_prompt_weights``). FLUX is refused too:
compel 2.5's FLUX wrapper returns one pooled embedding per part of a blend, which FLUX cannot
take. A plain prompt in a batch with weighted ones comes out of compel as the pipeline itself
would encode it.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DiffusionPipeline

from engine.errors import EngineError
from engine.prompt_weights import PromptWeightError, compel_prompt, is_weighted, weighted_family


def with_prompt_weights(pipeline: DiffusionPipeline, arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` with their prompts swapped for compel's embeddings when any is weighted;
    as they are otherwise."""
    prompt = arguments.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else list(prompt or [])
    if not any(is_weighted(text) for text in prompts):
        return arguments
    family = weighted_family(type(pipeline).__name__)
    if family is None:
        raise EngineError(
            f"{type(pipeline).__name__} takes no prompt weights (::, (words)1.3): remove them"
        )
    # One prompt per picture: not every pipeline given embeddings repeats them per picture.
    each = int(arguments.get("num_images_per_prompt") or 1)
    prompts = [text for text in prompts for _ in range(each)]
    # A batch of requests brings one negative prompt per picture already; one request, one.
    negative = arguments.get("negative_prompt")
    negatives = [negative] * len(prompts) if isinstance(negative, str) else negative
    try:
        texts = [compel_prompt(text) for text in prompts]
        embedded = _embed(pipeline, family, texts, negatives)
    except PromptWeightError as error:
        raise EngineError(str(error)) from error
    rest = {
        key: value for key, value in arguments.items() if key not in ("prompt", "negative_prompt")
    }
    return rest | embedded | {"num_images_per_prompt": 1}


def _embed(
    pipeline: DiffusionPipeline, family: str, prompts: list[str], negatives: list[str] | None
) -> dict[str, Any]:
    # compel is imported when a weighted prompt is first drawn: most never are.
    from compel import CompelForSD, CompelForSDXL

    if family == "StableDiffusion":
        plain = CompelForSD(pipeline)(prompts, negative_prompt=negatives or [""] * len(prompts))
        return {"prompt_embeds": plain.embeds, "negative_prompt_embeds": plain.negative_embeds}
    xl = CompelForSDXL(pipeline)(prompts, negative_prompt=negatives or [""] * len(prompts))
    negative_embeds, negative_pooled = xl.negative_embeds, xl.negative_pooled_embeds
    if negatives is None and pipeline.config.get("force_zeros_for_empty_prompt", False):
        # As SDXL draws without a negative prompt: zeros, not the encoding of "".
        negative_embeds = torch.zeros_like(xl.embeds)
        negative_pooled = torch.zeros_like(xl.pooled_embeds)
    return {
        "prompt_embeds": xl.embeds,
        "pooled_prompt_embeds": xl.pooled_embeds,
        "negative_prompt_embeds": negative_embeds,
        "negative_pooled_prompt_embeds": negative_pooled,
    }
