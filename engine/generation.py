"""Batched pipeline calls: all the images of a request in one, and the images of several
text-to-image requests in one where they can share it."""

import inspect
import math
from collections.abc import Callable, Hashable, Sequence
from contextlib import ExitStack
from typing import Any

import torch
from diffusers import DiffusionPipeline
from PIL import Image as PILImage
from PIL import ImageChops, ImageFilter
from PIL.Image import Image

from engine.adapters import use_adapter
from engine.conditioning import with_prompt_weights
from engine.errors import EngineError
from engine.imaging import resize_to
from engine.loader import LoadedModel
from engine.types import GenerationRequest, Progress
from engine.variety import chaotic_latents, coarse_start, tiling


def _step_reporter(report: Callable[[Progress], None]) -> Callable[..., dict[str, Any]]:
    def on_step_end(
        pipeline: DiffusionPipeline, index: int, timestep: Any, tensors: dict[str, Any]
    ) -> dict[str, Any]:
        # The pipeline's own count: image-to-image runs only a share of the requested steps.
        report(Progress(step=index + 1, total=pipeline.num_timesteps))
        return tensors

    return on_step_end


def _accepted(pipeline: DiffusionPipeline, arguments: dict[str, Any]) -> dict[str, Any]:
    # Pipelines differ in what they take: SD image-to-image sizes its output from its image,
    # while FLUX's needs height and width.
    parameters = inspect.signature(pipeline.__call__).parameters
    return {name: value for name, value in arguments.items() if name in parameters}


def _image_to_image_steps(steps: int, strength: float) -> int:
    # diffusers runs int(steps * strength) of the steps: a subtle variation over few steps would
    # run none and fail, where one step is what anyone asking for it means.
    if strength > 0 and int(steps * strength) < 1:
        return math.ceil(1 / strength)
    return steps


def shared_call_key(request: GenerationRequest) -> Hashable | None:
    """What text-to-image requests must have in common to be drawn in one pipeline call
    (prompts, negative prompts and seeds may differ: the pipeline takes one of each per image);
    None for a request drawn alone: image-to-image starts from a picture of its own."""
    if request.init_image is not None:
        return None
    return (
        request.model,
        request.adapter,
        request.width,
        request.height,
        request.steps,
        request.guidance,
        # No negative prompt is not the same as an empty one to every pipeline: SDXL draws
        # zeros for none and encodes "" otherwise. Those without one go together, as None.
        bool(request.negative_prompt),
        request.chaos,
        request.tile,
    )


def generate_images(
    model: LoadedModel, request: GenerationRequest, report: Callable[[Progress], None]
) -> list[Image]:
    if shared_call_key(request) is not None:
        return generate_together(model, [request], report)[0]
    # One generator per image, on the CPU: image i then depends on its seed alone, batched or
    # not, and a seed gives the same start noise on any device.
    arguments = _common_arguments(request, report) | {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt or None,
        "num_images_per_prompt": len(request.seeds),
        "generator": [torch.Generator("cpu").manual_seed(seed) for seed in request.seeds],
    }
    assert request.init_image is not None and request.strength is not None
    size = (request.width, request.height)
    source = resize_to(request.init_image.convert("RGB"), size)
    arguments["image"] = source
    arguments["strength"] = request.strength
    arguments["num_inference_steps"] = _image_to_image_steps(request.steps, request.strength)
    if request.mask is None:
        return _call(
            model,
            model.image_to_image,
            request.adapter,
            arguments,
            tile=request.tile,
            chaos=request.chaos,
        )
    if model.inpainting is None:
        raise EngineError(
            f"{model.info.source} cannot redraw part of a picture: diffusers has no inpainting "
            "pipeline for its family"
        )
    mask = resize_to(request.mask.convert("L"), size)
    drawn = _call(
        model,
        model.inpainting,
        request.adapter,
        arguments | {"mask_image": mask},
        tile=request.tile,
        chaos=request.chaos,
    )
    return [keep_unmasked(picture, source, mask) for picture in drawn]


# How far, as a share of the shorter side, a redrawn part fades into the kept one.
_SEAM = 1 / 32


def keep_unmasked(drawn: Image, source: Image, mask: Image) -> Image:
    """The drawn picture with the kept part of ``source`` put back, pixel for pixel: the model
    redraws the whole canvas through its VAE, which shifts what it was asked to keep. Only a
    thin seam at the mask's edge mixes the two, so no hard line shows."""
    radius = max(1.0, min(source.size) * _SEAM)
    # The blur spreads the drawn part a little into the kept one; the maximum keeps every
    # pixel the model was asked to draw fully drawn.
    seam = ImageChops.lighter(mask.filter(ImageFilter.GaussianBlur(radius)), mask)
    return PILImage.composite(resize_to(drawn, source.size), source, seam)


def generate_together(
    model: LoadedModel,
    requests: Sequence[GenerationRequest],
    report: Callable[[Progress], None],
) -> list[list[Image]]:
    """The images of text-to-image requests with one `shared_call_key`, per request, from one
    pipeline call: a batch of several people's grids costs little more than one grid where the
    device is not yet busy with one (a GPU; a CPU with tiny models). Each image still depends on
    its own prompt and seed alone: the same pixels as drawn on its own."""
    keys = {shared_call_key(request) for request in requests}
    if None in keys or len(keys) != 1:
        raise ValueError("only text-to-image requests with one shared call key go together")
    # One generator per image, on the CPU, as for a single request.
    arguments = _common_arguments(requests[0], report) | {
        "prompt": [r.prompt for r in requests for _ in r.seeds],
        "negative_prompt": (
            [r.negative_prompt for r in requests for _ in r.seeds]
            if requests[0].negative_prompt
            else None
        ),
        "num_images_per_prompt": 1,
        "generator": [torch.Generator("cpu").manual_seed(s) for r in requests for s in r.seeds],
    }
    first = requests[0]
    if first.chaos:
        seeds = [seed for request in requests for seed in request.seeds]
        arguments["latents"] = chaotic_latents(
            model.text_to_image, seeds, first.width, first.height, first.chaos
        )
    images = _call(model, model.text_to_image, first.adapter, arguments, tile=first.tile)
    per_request: list[list[Image]] = []
    for request in requests:
        per_request.append(images[: len(request.seeds)])
        images = images[len(request.seeds) :]
    return per_request


def _common_arguments(
    request: GenerationRequest, report: Callable[[Progress], None]
) -> dict[str, Any]:
    return {
        "width": request.width,
        "height": request.height,
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance,
        "callback_on_step_end": _step_reporter(report),
        "output_type": "pil",
    }


def _call(
    model: LoadedModel,
    pipeline: DiffusionPipeline,
    adapter: str | None,
    arguments: dict[str, Any],
    *,
    tile: bool = False,
    chaos: int = 0,
) -> list[Image]:
    use_adapter(model, adapter)
    try:
        weighted = with_prompt_weights(model.text_to_image, arguments)
        with ExitStack() as drawing:
            if tile:
                drawing.enter_context(tiling(pipeline))
            if chaos and "image" in arguments:
                # Text to image takes its chaos in its starting latents (generate_together).
                drawing.enter_context(coarse_start(pipeline, chaos))
            output = pipeline(**_accepted(pipeline, weighted))
    except Exception as error:
        # Bad sizes, strengths out of range, out of memory: all reach the user as they are.
        raise EngineError.wrapping("generation failed", error) from error
    images: list[Image] = output.images
    return images
