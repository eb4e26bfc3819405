"""What a pipeline's UNet is conditioned on, made as the pipeline itself makes it: the caption
embeddings, and for SDXL the pooled caption and the picture's size. Training and scoring (an
adapter's preference between pictures) feed the UNet the same way."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image


def is_xl(pipeline: Any) -> bool:
    """SDXL: two text encoders, and the UNet also takes the pooled caption and the size."""
    return getattr(pipeline, "text_encoder_2", None) is not None


@torch.no_grad()
def caption_conditioning(
    pipeline: Any, captions: list[str], device: torch.device, batch: int = 64
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The UNet's caption conditioning (on the CPU, float32); for SDXL also the pooled one."""
    contexts, pooled = [], []
    for start in range(0, len(captions), batch):
        chunk = captions[start : start + batch]
        if is_xl(pipeline):
            embeds, _, pooled_embeds, _ = pipeline.encode_prompt(
                prompt=chunk, device=device, do_classifier_free_guidance=False
            )
            pooled.append(pooled_embeds.float().cpu())
        else:
            embeds, _ = pipeline.encode_prompt(chunk, device, 1, do_classifier_free_guidance=False)
        contexts.append(embeds.float().cpu())
    return torch.cat(contexts), (torch.cat(pooled) if pooled else None)


def added_conditions(
    pipeline: Any, pooled: torch.Tensor | None, count: int, device: torch.device
) -> dict[str, torch.Tensor] | None:
    """SDXL's extra UNet inputs: the pooled caption and the (uncropped, square) size the
    pictures were encoded at; None for other pipelines."""
    if pooled is None:
        return None
    size = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32)
    return {
        "text_embeds": pooled.to(device),
        "time_ids": time_ids.repeat(count, 1).to(device),
    }


@torch.no_grad()
def picture_latents(
    pipeline: Any, pictures: list[Image.Image], device: torch.device
) -> torch.Tensor:
    """The pictures in the VAE's latent space (scaled as the UNet sees them; on the CPU,
    float32), at the UNet's native size."""
    size = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    pixels = np.stack([np.asarray(p.convert("RGB").resize((size, size))) for p in pictures])
    batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1
    vae = pipeline.vae
    chunks = [
        vae.encode(batch[i : i + 64].to(device, vae.dtype)).latent_dist.mean
        for i in range(0, len(batch), 64)
    ]
    encoded: torch.Tensor = torch.cat(chunks).float().cpu()
    return encoded * float(vae.config.scaling_factor)
