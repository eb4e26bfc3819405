"""The tiny Stable Diffusion architecture of the embedded model, built from configs.

It is shaped for 64x64 px images and a 2-core CPU: a 4x down-sampling VAE (16x16x4 latents), a
small UNet and a 2-layer CLIP text encoder over the locally made tokenizer. Built from a seed,
the same seed always gives the same weights.
"""

import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from engine.construction import MODULE_CONSTRUCTION
from engine.tokenizer import DEFAULT_WORDS, MAX_LENGTH, build_clip_tokenizer

TEXT_WIDTH = 64


def tiny_vae() -> AutoencoderKL:
    """The tiny models' VAE: 64x64 px pictures to 4x16x16 latents."""
    return AutoencoderKL(
        block_out_channels=(16, 32, 64),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        # Attention over 16x16 latents costs more on a CPU than the whole rest of the VAE.
        mid_block_add_attention=False,
    )


def _unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        # Self-attention at 16x16 was the CPU bottleneck; cross-attention alone there is cheap
        # and still lets the prompt steer where things go in the full-resolution block.
        only_cross_attention=(True, False, False),
        mid_block_only_cross_attention=False,
        cross_attention_dim=TEXT_WIDTH,
        # diffusers takes this for the number of heads (a naming slip kept for old configs).
        attention_head_dim=4,
        norm_num_groups=8,
    )


def clip_text_encoder(
    tokenizer: CLIPTokenizer, width: int, layers: int, heads: int
) -> CLIPTextModel:
    """A CLIP text encoder of ``width`` (its feed-forward twice as wide) over ``tokenizer``,
    with random weights."""
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=MAX_LENGTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def _text_encoder(tokenizer: CLIPTokenizer) -> CLIPTextModel:
    return clip_text_encoder(tokenizer, TEXT_WIDTH, layers=2, heads=4)


def stable_diffusion_scheduler(
    prediction_type: str = "epsilon", zero_terminal_snr: bool = False
) -> DDIMScheduler:
    # Stable Diffusion's noise schedule, so DDPMScheduler.from_pretrained (training) reads it
    # too. DDIM over trailing timesteps starts from pure noise even with very few steps.
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        prediction_type=prediction_type,
        rescale_betas_zero_snr=zero_terminal_snr,
        timestep_spacing="trailing",
        steps_offset=1,
    )


def build_tiny_pipeline(folder: Path, seed: int = 0) -> Path:
    """Save a randomly initialised tiny StableDiffusionPipeline into `folder` and return it."""
    with tempfile.TemporaryDirectory() as tokenizer_dir:
        build_clip_tokenizer(Path(tokenizer_dir), DEFAULT_WORDS)
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    # Seeding before each module keeps one module's weights from depending on the others'; the
    # forked generator leaves the caller's random state as it was.
    with MODULE_CONSTRUCTION, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = tiny_vae()
        torch.manual_seed(seed)
        unet = _unet()
        torch.manual_seed(seed)
        text_encoder = _text_encoder(tokenizer)
    return save_sd_pipeline(folder, vae, text_encoder, tokenizer, unet)


def save_sd_pipeline(
    folder: Path,
    vae: AutoencoderKL,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    unet: UNet2DConditionModel,
) -> Path:
    """Save these parts as a Stable Diffusion pipeline folder (no safety checker) in `folder`."""
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=stable_diffusion_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
    return folder
