"""Two ways a grid can be drawn differently from the usual, for one pipeline call each:

- **chaos** (``--chaos 0..100``): how different the four pictures of a grid are. Each picture's
  starting noise gets a share of coarse noise (4x4 cells, spread over the latents): the layout
  a picture settles on is decided early, from the noise's low frequencies, so coarse noise moves
  where and how large things are drawn, while each picture still depends on its seed alone.
  On the embedded model, grids' mean pairwise distance went from 3.1 to 7.4 of 255 with twice
  as much coarse noise as fine (--chaos 100); lower guidance moved it less (4.0 to 5.5 at 1.5).
  FLUX takes its latents packed, 2x2 of them to a token: they are made unpacked, then packed.
  Image-to-image (variations) takes it too: the noise mixed into the source picture gets its
  share of coarse noise (``coarse_start``).
- **tile** (``--tile``): pictures that repeat seamlessly. Every convolution of the UNet and the
  VAE pads circularly for that call, so the picture's right edge is drawn as if the left one
  came next. Only for UNet models: a transformer's patches have no padding to wrap.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from diffusers import DiffusionPipeline

from engine.errors import EngineError

MAX_CHAOS = 100
# At --chaos 100, the coarse noise's share against the fine noise's: in a picture's start, and
# in the noise image-to-image mixes into its source (which holds the layout firmly: on the
# embedded model, a share of 2 there moved variations at strength 0.85 about half as far as 6).
_COARSE_AT_MOST = 2.0
_COARSE_AT_MOST_FROM_A_PICTURE = 6.0
_COARSE_CELLS = 4


def chaotic_latents(
    pipeline: DiffusionPipeline, seeds: Sequence[int], width: int, height: int, chaos: int
) -> torch.Tensor:
    """Starting latents for one picture per seed, with ``chaos`` percent of coarse noise."""
    denoiser = getattr(pipeline, "unet", None) or getattr(pipeline, "transformer", None)
    if denoiser is None:
        raise EngineError(f"--chaos is not available for {type(pipeline).__name__}")
    packed = type(pipeline).__name__.startswith("Flux")
    scale = pipeline.vae_scale_factor
    if packed:
        # FLUX's transformer takes 2x2 latents of each channel as one token, so the latents
        # are a whole number of 2x2 patches (as FluxPipeline.prepare_latents makes them).
        channels = denoiser.config.in_channels // 4
        shape = (1, channels, 2 * (height // (scale * 2)), 2 * (width // (scale * 2)))
    else:
        channels = denoiser.config.in_channels
        shape = (1, channels, height // scale, width // scale)
    share = _COARSE_AT_MOST * chaos / MAX_CHAOS
    latents = []
    for seed in seeds:
        generator = torch.Generator("cpu").manual_seed(seed)
        fine = torch.randn(shape, generator=generator)
        coarse = torch.randn((1, channels, _COARSE_CELLS, _COARSE_CELLS), generator=generator)
        mixed = fine + share * torch.nn.functional.interpolate(
            coarse, size=shape[2:], mode="bilinear", align_corners=False
        )
        # Noise of unit spread, as the scheduler expects it.
        latents.append(mixed / mixed.std())
    device = next(denoiser.parameters()).device
    dtype = next(denoiser.parameters()).dtype
    together = torch.cat(latents)
    if packed:
        together = _packed(together)
    return together.to(device=device, dtype=dtype)


def _packed(latents: torch.Tensor) -> torch.Tensor:
    """FLUX's token sequence of ``latents`` (batch, channels, height, width): each 2x2 patch,
    row by row, one token of its channels x 4 values, as FluxPipeline._pack_latents packs them
    (written out here: that one is private to diffusers)."""
    batch, channels, height, width = latents.shape
    patches = latents.view(batch, channels, height // 2, 2, width // 2, 2)
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(
        batch, (height // 2) * (width // 2), channels * 4
    )


@contextmanager
def coarse_start(pipeline: DiffusionPipeline, chaos: int) -> Iterator[None]:
    """Image-to-image with ``chaos`` percent of coarse noise, as text-to-image starts with it:
    while the block runs, the noise the scheduler mixes into the source picture gets a share of
    its own low frequencies (4x4 cells, so it still depends on the seed alone). That moves where
    and how large things are redrawn, which fine noise alone does not: the embedded model,
    given fine noise only, redraws a picture nearly as it was even at strength 0.85."""
    scheduler = pipeline.scheduler
    # DDPM-style schedulers noise with add_noise; flow matching (SD3, FLUX) with scale_noise.
    name = "add_noise" if hasattr(scheduler, "add_noise") else "scale_noise"
    original = getattr(scheduler, name, None)
    share = _COARSE_AT_MOST_FROM_A_PICTURE * chaos / MAX_CHAOS
    if original is None or share == 0:
        yield
        return
    signature = inspect.signature(original)

    def noised(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.arguments["noise"] = _with_coarse(bound.arguments["noise"], share)
        return original(*bound.args, **bound.kwargs)

    setattr(scheduler, name, noised)
    try:
        yield
    finally:
        delattr(scheduler, name)


def _with_coarse(noise: torch.Tensor, share: float) -> torch.Tensor:
    """Noise with ``share`` of its own coarse part added, brought back to unit spread. Noise
    packed into tokens is left as it is (FLUX noises its picture before packing it)."""
    if noise.dim() != 4:
        return noise
    low = torch.nn.functional.adaptive_avg_pool2d(noise, _COARSE_CELLS)
    low = low / low.std(dim=(1, 2, 3), keepdim=True)
    coarse = torch.nn.functional.interpolate(
        low, size=noise.shape[2:], mode="bilinear", align_corners=False
    )
    mixed = noise + share * coarse
    return mixed / mixed.std(dim=(1, 2, 3), keepdim=True)


@contextmanager
def tiling(pipeline: DiffusionPipeline) -> Iterator[None]:
    """Circular padding in the UNet's and the VAE's convolutions while the block runs."""
    unet = getattr(pipeline, "unet", None)
    if unet is None:
        raise EngineError(
            f"--tile is not available for {type(pipeline).__name__}: only UNet models tile"
        )
    convolutions = [
        module
        for part in (unet, pipeline.vae)
        for module in part.modules()
        if isinstance(module, torch.nn.Conv2d) and any(side > 0 for side in module.padding)  # type: ignore[operator]
    ]
    before = [conv.padding_mode for conv in convolutions]
    try:
        for conv in convolutions:
            conv.padding_mode = "circular"
        yield
    finally:
        for conv, mode in zip(convolutions, before, strict=True):
            conv.padding_mode = mode
