"""How much a LoRA adapter prefers a picture to the base model: its implicit reward.

Diffusion-DPO and Diffusion-KTO train an adapter to denoise the pictures people preferred better
than the frozen base model does, and the others worse. So how much better the adapter predicts a
picture's noise than the base does (the base's error minus the adapter's, averaged over a few
noise levels, the same noise for both) is how much the adapter likes that picture: the reward
the training optimised, read back. Two pictures with about the same reward are a pair the
adapter cannot tell apart, which is what a person's answer teaches it most about
(``bot.core.people.rating``).
"""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler

from engine.adapters import use_adapter
from engine.loader import LoadedModel
from engine.train.conditioning import added_conditions, caption_conditioning, picture_latents
from engine.train.objective import denoising_target, per_sample_errors
from engine.types import ScoreRequest

# Noise levels (shares of the schedule) each picture is judged at: layout and colour settle at
# the noisy ones, detail at the others.
_TIMESTEP_SHARES = (0.2, 0.4, 0.6, 0.8)


@torch.no_grad()
def implicit_rewards(model: LoadedModel, request: ScoreRequest) -> list[float]:
    """Each picture's implicit reward under ``request.adapter``, in the order given."""
    pipeline = model.text_to_image
    device = pipeline.device
    unet = pipeline.unet
    scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    latents = picture_latents(pipeline, list(request.images), device)
    count = len(request.images)
    contexts, pooled = caption_conditioning(pipeline, [request.prompt], device)
    contexts = contexts.repeat(count, 1, 1).to(device, unet.dtype)
    if pooled is not None:
        pooled = pooled.repeat(count, 1).to(unet.dtype)
    added = added_conditions(pipeline, pooled, count, device)
    generator = torch.Generator().manual_seed(request.seed)
    steps = scheduler.config.num_train_timesteps
    rewards = torch.zeros(count)
    for share in _TIMESTEP_SHARES:
        timesteps = torch.full((count,), int(steps * share), dtype=torch.long)
        # One noise for every picture: each is judged under the same conditions as the others
        # (as Diffusion-DPO noises both pictures of a pair alike), whatever their order.
        noise = torch.randn((1, *latents.shape[1:]), generator=generator).repeat(count, 1, 1, 1)
        noisy = scheduler.add_noise(latents, noise, timesteps).to(device, unet.dtype)
        target = denoising_target(scheduler, latents, noise, timesteps).to(device)

        errors = []
        for adapter in (request.adapter, None):
            use_adapter(model, adapter)
            predicted = unet(noisy, timesteps.to(device), contexts, added_cond_kwargs=added)
            errors.append(per_sample_errors(predicted.sample, target).cpu())
        tuned, base = errors
        rewards += base - tuned
    return [float(reward) for reward in rewards / len(_TIMESTEP_SHARES)]
