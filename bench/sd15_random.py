"""A Stable Diffusion 1.5-sized pipeline with random weights, built from configs (no download):
SD 1.5's UNet (320/640/1280/1280 channels, two layers a block, cross-attention width 768,
about 860M parameters), its VAE and a 12-layer CLIP text encoder of width 768 over the locally
made tokenizer. It draws noise; it is for timing the engine at a real model's size on a GPU.

    python bench/sd15_random.py FOLDER
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTokenizer

from engine.tiny import clip_text_encoder, save_sd_pipeline
from engine.tokenizer import DEFAULT_WORDS, build_clip_tokenizer

WIDTH = 768


def build_sd15_random(folder: Path) -> Path:
    if (folder / "model_index.json").is_file():
        return folder
    with tempfile.TemporaryDirectory() as tokenizer_dir:
        build_clip_tokenizer(Path(tokenizer_dir), DEFAULT_WORDS)
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=WIDTH,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
    )
    # SD 1.5's text encoder is 12 layers of width 768 (its feed-forward 3072 wide, not 1536;
    # the difference is small beside the UNet this bench is about).
    text_encoder = clip_text_encoder(tokenizer, WIDTH, layers=12, heads=12)
    return save_sd_pipeline(folder, vae, text_encoder, tokenizer, unet)


if __name__ == "__main__":
    print(build_sd15_random(Path(sys.argv[1])))
