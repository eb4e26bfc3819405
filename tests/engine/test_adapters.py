"""A request can draw with a LoRA adapter; the next one without it draws as the base does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusionPipeline

from engine import EngineError, LocalEngine
from engine.loader import load_model
from tests.engine.support import RequestFactory


def make_adapter(model_dir: Path, folder: Path, seed: int, scale: float = 1.0) -> Path:
    """A LoRA adapter for the model's UNet with random weights (``scale`` 0: all zero, an
    adapter that changes nothing)."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = load_model(str(model_dir), "cpu", torch.float32).text_to_image.unet
    unet.add_adapter(LoraConfig(r=2, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if "lora_B" in name:
                parameter.copy_(scale * torch.randn(parameter.shape, generator=generator))
    StableDiffusionPipeline.save_lora_weights(
        folder, unet_lora_layers=get_peft_model_state_dict(unet)
    )
    return folder


async def test_adapters_switch_per_request(tiny_model_dir: Path, tmp_path: Path) -> None:
    first = make_adapter(tiny_model_dir, tmp_path / "first", seed=1)
    second = make_adapter(tiny_model_dir, tmp_path / "second", seed=2)
    request = RequestFactory(str(tiny_model_dir))
    engine = LocalEngine(tmp_path / "cache", device="cpu")
    try:
        base = await engine.generate(request())
        tuned = await engine.generate(request(adapter=str(first)))
        other = await engine.generate(request(adapter=str(second)))
        base_again = await engine.generate(request())
        tuned_again = await engine.generate(request(adapter=str(first)))
    finally:
        await engine.close()

    def pixels(images: list) -> list[bytes]:  # type: ignore[type-arg]
        return [image.tobytes() for image in images]

    assert pixels(tuned) != pixels(base) and pixels(other) not in (pixels(base), pixels(tuned))
    assert pixels(base_again) == pixels(base)
    assert pixels(tuned_again) == pixels(tuned)


async def test_a_folder_that_is_no_adapter_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    engine = LocalEngine(tmp_path / "cache", device="cpu")
    try:
        with pytest.raises(EngineError, match="not a LoRA adapter"):
            await engine.generate(RequestFactory(str(tiny_model_dir))(adapter=str(tmp_path)))
    finally:
        await engine.close()


async def test_a_model_keeps_a_bounded_number_of_adapters_and_reloads_an_evicted_one(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Many people's profiles on one base model: with room for two, a third adapter unloads
    the one used longest ago, and that one, asked for again, draws as it did before."""
    folders = [make_adapter(tiny_model_dir, tmp_path / f"profile-{n}", seed=n) for n in (1, 2, 3)]
    request = RequestFactory(str(tiny_model_dir))
    engine = LocalEngine(tmp_path / "cache", device="cpu", adapters_kept=2)
    try:
        first = await engine.generate(request(adapter=str(folders[0])))
        await engine.generate(request(adapter=str(folders[1])))
        await engine.generate(request(adapter=str(folders[0])))  # now the second is the oldest
        await engine.generate(request(adapter=str(folders[2])))  # unloads the second
        held = engine.draw_counts()
        await engine.generate(request(adapter=str(folders[0])))  # still loaded
        assert engine.draw_counts().adapter_loads == held.adapter_loads == 3
        await engine.generate(request(adapter=str(folders[1])))  # loaded again
        again = engine.draw_counts()
        first_again = await engine.generate(request(adapter=str(folders[0])))
    finally:
        await engine.close()

    assert (held.adapter_evictions, again.adapter_loads, again.adapter_evictions) == (1, 4, 2)
    assert [image.tobytes() for image in first_again] == [image.tobytes() for image in first]
