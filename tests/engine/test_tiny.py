import json
from pathlib import Path

import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForText2Image,
    DDPMScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionPipeline,
)
from safetensors.torch import load_file

from engine.tiny import build_tiny_pipeline


def test_the_folder_is_a_standard_stable_diffusion_pipeline(tiny_model_dir: Path) -> None:
    index = json.loads((tiny_model_dir / "model_index.json").read_text())

    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["requires_safety_checker"] is False
    assert index["safety_checker"] == [None, None]
    assert index["feature_extractor"] == [None, None]
    assert (tiny_model_dir / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tiny_model_dir / "vae" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tiny_model_dir / "text_encoder" / "model.safetensors").is_file()


def test_diffusers_loads_it_and_shares_it_with_image_to_image(
    tiny_model_dir: Path, no_network: None
) -> None:
    pipeline = AutoPipelineForText2Image.from_pretrained(tiny_model_dir, local_files_only=True)
    image_to_image = AutoPipelineForImage2Image.from_pipe(pipeline)

    assert isinstance(pipeline, StableDiffusionPipeline)
    assert isinstance(image_to_image, StableDiffusionImg2ImgPipeline)
    assert image_to_image.unet is pipeline.unet
    assert pipeline.unet.config.sample_size * pipeline.vae_scale_factor == 64
    assert pipeline.safety_checker is None


def test_training_can_read_the_scheduler_as_ddpm(tiny_model_dir: Path) -> None:
    scheduler = DDPMScheduler.from_pretrained(tiny_model_dir, subfolder="scheduler")

    assert scheduler.config.num_train_timesteps == 1000
    assert scheduler.config.prediction_type == "epsilon"


def test_the_same_seed_builds_the_same_weights(tmp_path: Path, tiny_model_dir: Path) -> None:
    again = build_tiny_pipeline(tmp_path / "again", seed=0)
    other = build_tiny_pipeline(tmp_path / "other", seed=1)
    weights = "unet/diffusion_pytorch_model.safetensors"

    first, second, third = (
        load_file(folder / weights) for folder in (tiny_model_dir, again, other)
    )

    assert all(torch.equal(first[name], second[name]) for name in first)
    assert not all(torch.equal(first[name], third[name]) for name in first)


def test_building_leaves_the_callers_random_state_alone(tmp_path: Path) -> None:
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)

    build_tiny_pipeline(tmp_path / "pipeline", seed=7)

    assert torch.equal(torch.rand(3), expected)
