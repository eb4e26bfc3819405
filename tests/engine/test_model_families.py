"""Each model family built from configs, through the same engine (and loader) as the embedded
model: tiny Stable Diffusion 1.x, SDXL, SD3 and FLUX pipelines draw grids, variations and
upscales, zoom out, pan and vary a region (the kept part kept), and draw --chaos grids; --tile
works on the UNet families and is refused, by name, on the transformer ones."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from PIL import Image, ImageDraw

from engine import EngineError, LocalEngine
from engine.canvas import pan, vary_region, zoom_out
from engine.generation import generate_together
from engine.loader import load_model
from engine.variety import chaotic_latents
from tests.engine.support import RequestFactory, drawn_distance, kept_distance, pixel_distance


class Family(NamedTuple):
    fixture: str
    """The pipeline folder's fixture."""
    pipelines: tuple[str, str, str]
    """What the loader makes of it: text to image, image to image (variations, refined
    upscales) and inpainting (the editing tools)."""
    native_side: int
    size_multiple: int


FAMILIES = {
    "sd": Family(
        "tiny_model_dir",
        (
            "StableDiffusionPipeline",
            "StableDiffusionImg2ImgPipeline",
            "StableDiffusionInpaintPipeline",
        ),
        64,
        16,
    ),
    "sdxl": Family(
        "tiny_xl_model_dir",
        (
            "StableDiffusionXLPipeline",
            "StableDiffusionXLImg2ImgPipeline",
            "StableDiffusionXLInpaintPipeline",
        ),
        64,
        8,
    ),
    "sd3": Family(
        "tiny_sd3_model_dir",
        (
            "StableDiffusion3Pipeline",
            "StableDiffusion3Img2ImgPipeline",
            "StableDiffusion3InpaintPipeline",
        ),
        64,
        8,
    ),
    # FluxPipeline's native size is 128 latents a side whatever the transformer.
    "flux": Family(
        "tiny_flux_model_dir",
        ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline"),
        512,
        8,
    ),
}
UNET_FAMILIES = ["sd", "sdxl"]
TRANSFORMER_FAMILIES = {"sd3": "StableDiffusion3Pipeline", "flux": "FluxPipeline"}


def _model(request: pytest.FixtureRequest, family: str) -> str:
    folder: Path = request.getfixturevalue(FAMILIES[family].fixture)
    return str(folder)


@pytest.fixture(params=list(FAMILIES))
def family_model(request: pytest.FixtureRequest) -> str:
    return _model(request, request.param)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_loads_with_its_image_to_image_and_inpainting_twins(
    family: str, request: pytest.FixtureRequest
) -> None:
    expected = FAMILIES[family]

    loaded = load_model(_model(request, family), "cpu", torch.float32)

    pipelines = (loaded.text_to_image, loaded.image_to_image, loaded.inpainting)
    assert tuple(type(pipeline).__name__ for pipeline in pipelines) == expected.pipelines
    info = loaded.info
    assert (info.native_width, info.native_height) == (expected.native_side,) * 2
    assert info.size_multiple == expected.size_multiple
    # The prompt limit is the (first) CLIP tokenizer's, in every family.
    assert info.max_prompt_tokens == 77


async def test_each_family_draws_a_grid_of_different_pictures_of_the_size_asked(
    family_model: str, local_engine: LocalEngine
) -> None:
    make = RequestFactory(family_model)

    grid = await local_engine.generate(make(width=96, height=64))

    assert [picture.size for picture in grid] == [(96, 64)] * 4
    assert all(pixel_distance(a, b) > 5.0 for a, b in itertools.combinations(grid, 2))


def _square_picture() -> Image.Image:
    """Green on yellow, 64x64: another init image, to tell what a variation keeps of its own."""
    picture = Image.new("RGB", (64, 64), "yellow")
    ImageDraw.Draw(picture).rectangle((8, 8, 40, 56), fill="green")
    return picture


async def test_each_family_varies_a_picture_less_the_subtler_the_variation(
    family_model: str, local_engine: LocalEngine, circle_picture: Image.Image
) -> None:
    # With random weights no variation looks like its source (the VAE alone moves every pixel
    # far), but how much of the source comes through is plain to see: two sources varied with
    # the same seed differ the more, the less the strength redraws.
    make = RequestFactory(family_model)
    shown: dict[float, float] = {}
    for strength in (0.3, 0.9):
        variations = [
            await local_engine.generate(
                make(init_image=source, strength=strength, seeds=(1, 2), steps=10)
            )
            for source in (circle_picture, _square_picture())
        ]
        assert [p.size for pictures in variations for p in pictures] == [(64, 64)] * 4
        circles, squares = variations
        shown[strength] = min(
            pixel_distance(circle, square) for circle, square in zip(circles, squares, strict=True)
        )

    assert shown[0.3] > 1.0
    assert shown[0.3] > 4 * shown[0.9]


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_each_family_varies_with_chaos(
    family: str, request: pytest.FixtureRequest, local_engine: LocalEngine
) -> None:
    # Coarse noise goes into the noise a variation redraws its picture from, in every family
    # (FLUX noises its picture before packing it into tokens).
    make = RequestFactory(_model(request, family))
    [source] = await local_engine.generate(make(seeds=(3,)))
    calm = await local_engine.generate(make(init_image=source, strength=0.6, seeds=(1, 2)))
    chaotic = await local_engine.generate(
        make(init_image=source, strength=0.6, seeds=(1, 2), chaos=100)
    )

    assert [p.size for p in chaotic] == [p.size for p in calm]
    moved = [pixel_distance(a, b) for a, b in zip(chaotic, calm, strict=True)]
    assert all(distance > 0 for distance in moved), moved


async def test_each_family_upscales_plainly_and_refined(
    family_model: str, local_engine: LocalEngine
) -> None:
    make = RequestFactory(family_model)
    [picture] = await local_engine.generate(make(seeds=(3,)))
    # 36x20 times 3 is 108x60, off every family's size grid: refined there, resized back.
    odd = picture.resize((36, 20))

    plain = await local_engine.upscale(family_model, picture)
    refined = await local_engine.upscale(
        family_model, picture, refine_strength=0.5, prompt="a red circle", seed=3, steps=4
    )
    refined_odd = await local_engine.upscale(
        family_model, odd, factor=3, refine_strength=0.3, steps=4
    )

    assert plain.size == refined.size == (128, 128)
    assert pixel_distance(plain, refined) > 1.0
    assert refined_odd.size == (108, 60)


async def test_each_family_redraws_only_what_the_canvas_asks(
    family_model: str, local_engine: LocalEngine
) -> None:
    make = RequestFactory(family_model)
    info = await local_engine.describe(family_model)
    # 64x64, the native size of all but FLUX, whose pipeline makes 128 latents a side its own.
    [picture] = await local_engine.generate(make(seeds=(3,)))
    for canvas in (
        zoom_out(picture, 2.0),
        pan(picture, "right", info.size_multiple),
        vary_region(picture, ["left-half"]),
    ):
        width, height = canvas.image.size
        drawn = await local_engine.generate(
            make(
                width=width,
                height=height,
                init_image=canvas.image,
                mask=canvas.mask,
                strength=1.0,
                seeds=(1, 2),
            )
        )
        for result in drawn:
            assert result.size == canvas.image.size
            assert kept_distance(result, canvas.image, canvas.mask) < 1.0
            assert drawn_distance(result, canvas.image, canvas.mask) > 5.0


async def test_each_family_draws_chaos(family_model: str, local_engine: LocalEngine) -> None:
    make = RequestFactory(family_model)
    calm = await local_engine.generate(make(seeds=(5, 6)))
    chaotic = await local_engine.generate(make(seeds=(5, 6), chaos=100))

    assert [p.size for p in chaotic] == [p.size for p in calm]
    assert all(pixel_distance(a, b) > 0 for a, b in zip(chaotic, calm, strict=True))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_takes_chaos_latents_laid_out_as_its_own_noise(
    family: str, request: pytest.FixtureRequest
) -> None:
    # Without coarse noise, a seed's chaotic latents are the noise the pipeline itself draws
    # from that seed (brought to unit spread): FLUX's packed 2x2 into tokens the same way.
    pipeline = load_model(_model(request, family), "cpu", torch.float32).text_to_image
    channels = pipeline.vae.config.latent_channels

    latents = chaotic_latents(pipeline, [5], 96, 64, chaos=0)
    own = pipeline.prepare_latents(
        1, channels, 64, 96, torch.float32, "cpu", torch.Generator().manual_seed(5)
    )
    own = own[0] if isinstance(own, tuple) else own

    assert latents.shape == own.shape
    assert torch.allclose(latents, own / own.std(), atol=1e-6)


@pytest.mark.parametrize("family", UNET_FAMILIES)
async def test_the_unet_families_draw_tile(
    family: str, request: pytest.FixtureRequest, local_engine: LocalEngine
) -> None:
    make = RequestFactory(_model(request, family))
    calm = await local_engine.generate(make(seeds=(5, 6)))
    tiled = await local_engine.generate(make(seeds=(5, 6), tile=True))

    assert [p.size for p in tiled] == [p.size for p in calm]
    assert all(pixel_distance(a, b) > 0 for a, b in zip(tiled, calm, strict=True))


@pytest.mark.parametrize("family", list(TRANSFORMER_FAMILIES))
async def test_the_transformer_families_refuse_tile_by_name(
    family: str, request: pytest.FixtureRequest, local_engine: LocalEngine
) -> None:
    make = RequestFactory(_model(request, family))

    with pytest.raises(EngineError) as refused:
        await local_engine.generate(make(seeds=(5, 6), tile=True))

    assert str(refused.value) == (
        f"generation failed: --tile is not available for {TRANSFORMER_FAMILIES[family]}: "
        "only UNet models tile"
    )


WEIGHTED_FAMILIES = ["sd", "sdxl"]


@pytest.mark.parametrize("family", WEIGHTED_FAMILIES)
async def test_the_families_compel_knows_draw_weighted_prompts(
    family: str, request: pytest.FixtureRequest, local_engine: LocalEngine
) -> None:
    make = RequestFactory(_model(request, family))
    info = await local_engine.describe(make.base.model)
    plain = await local_engine.generate(make(seeds=(5, 6), prompt="a red circle"))

    # A plain prompt in one call with a weighted one comes out of compel as the pipeline
    # draws it.
    loaded = load_model(make.base.model, "cpu", torch.float32)
    together = generate_together(
        loaded,
        [
            make(seeds=(5, 6), prompt="a red circle"),
            make(seeds=(5, 6), prompt="a red circle::3 a blue square::1"),
        ],
        lambda progress: None,
    )
    leaning = await local_engine.generate(
        make(seeds=(5, 6), prompt="a red circle::1 a blue square::3")
    )

    assert info.takes_prompt_weights and info.tiles
    assert all(pixel_distance(a, b) < 1.0 for a, b in zip(together[0], plain, strict=True))
    # The weights count: the other way round draws otherwise (little, on tiny random models;
    # the embedded model's colours are checked in tests/engine/test_prompt_weights.py).
    assert all(pixel_distance(a, b) > 0.2 for a, b in zip(together[1], leaning, strict=True))
    assert all(pixel_distance(a, b) > 1.0 for a, b in zip(together[1], plain, strict=True))


@pytest.mark.parametrize("family", list(TRANSFORMER_FAMILIES))
async def test_the_transformer_families_refuse_prompt_weights_by_name(
    family: str, request: pytest.FixtureRequest, local_engine: LocalEngine
) -> None:
    make = RequestFactory(_model(request, family))
    info = await local_engine.describe(make.base.model)

    with pytest.raises(
        EngineError, match=f"{TRANSFORMER_FAMILIES[family]} takes no prompt weights"
    ):
        await local_engine.generate(make(prompt="a red circle::2 fog"))

    assert not info.takes_prompt_weights and not info.tiles
