import json
from pathlib import Path

import pytest
import torch

from engine import EngineError, ModelInfo
from engine.loader import load_model


def test_a_local_pipeline_folder_loads_offline(tiny_model_dir: Path, no_network: None) -> None:
    model = load_model(str(tiny_model_dir), "cpu", torch.float32)

    assert model.info == ModelInfo(
        source=str(tiny_model_dir),
        native_width=64,
        native_height=64,
        size_multiple=16,
        max_prompt_tokens=77,
    )
    assert model.image_to_image.unet is model.text_to_image.unet
    assert model.text_to_image.unet.dtype == torch.float32


def test_the_dtype_asked_for_is_the_one_loaded(tiny_model_dir: Path) -> None:
    model = load_model(str(tiny_model_dir), "cpu", torch.bfloat16)

    assert model.text_to_image.unet.dtype == torch.bfloat16


@pytest.mark.parametrize("spec", ["/no/such/model", "./missing-model", "~/missing/model/dir"])
def test_a_missing_folder_is_refused_without_asking_the_hub(spec: str, no_network: None) -> None:
    with pytest.raises(EngineError, match="does not exist"):
        load_model(spec, "cpu", torch.float32)


def test_a_folder_that_is_no_pipeline_is_refused(tmp_path: Path, no_network: None) -> None:
    (tmp_path / "weights.bin").write_bytes(b"")

    with pytest.raises(EngineError, match="not a diffusers pipeline folder") as refusal:
        load_model(str(tmp_path), "cpu", torch.float32)
    with pytest.raises(EngineError, match="is a file"):
        load_model(str(tmp_path / "weights.bin"), "cpu", torch.float32)
    assert "\n" not in str(refusal.value)


def test_a_broken_pipeline_folder_gives_one_clear_line(tmp_path: Path, no_network: None) -> None:
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
    }
    (tmp_path / "model_index.json").write_text(json.dumps(index))

    with pytest.raises(EngineError, match=f"cannot load model {tmp_path}") as refusal:
        load_model(str(tmp_path), "cpu", torch.float32)
    assert "\n" not in str(refusal.value)
