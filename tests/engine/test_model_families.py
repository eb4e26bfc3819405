"""The editing tools on each model family built from configs: tiny Stable Diffusion 1.x and
SDXL pipelines zoom out, pan and vary a region (the kept part kept), and draw --chaos and --tile
grids, through the same engine as the embedded model."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import LocalEngine
from engine.canvas import pan, vary_region, zoom_out
from tests.engine.support import RequestFactory, kept_distance, pixel_distance

FAMILIES = ["sd", "sdxl"]


@pytest.fixture(params=FAMILIES)
def family_model(request: pytest.FixtureRequest) -> str:
    fixture = "tiny_model_dir" if request.param == "sd" else "tiny_xl_model_dir"
    folder: Path = request.getfixturevalue(fixture)
    return str(folder)


async def test_each_family_redraws_only_what_the_canvas_asks(
    family_model: str, local_engine: LocalEngine
) -> None:
    make = RequestFactory(family_model)
    info = await local_engine.describe(family_model)
    [picture] = await local_engine.generate(
        make(width=info.native_width, height=info.native_height, seeds=(3,))
    )
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


async def test_each_family_draws_chaos_and_tile(
    family_model: str, local_engine: LocalEngine
) -> None:
    make = RequestFactory(family_model)
    calm = await local_engine.generate(make(seeds=(5, 6)))
    chaotic = await local_engine.generate(make(seeds=(5, 6), chaos=100))
    tiled = await local_engine.generate(make(seeds=(5, 6), tile=True))

    for pictures in (chaotic, tiled):
        assert [p.size for p in pictures] == [p.size for p in calm]
        assert all(pixel_distance(a, b) > 0 for a, b in zip(pictures, calm, strict=True))
