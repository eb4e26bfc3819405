"""Zoom out, pan and make square on the embedded model, judged on pixels: the picture is kept
where it goes, and the model draws the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from engine import EMBEDDED_MODEL, LocalEngine
from engine.canvas import Canvas, make_square, pan, vary_region, zoom_out
from engine.toy.judge import things
from tests.engine.support import RequestFactory, grown, pixel_distance

shipped_request = RequestFactory(EMBEDDED_MODEL)
PROMPT = "a large red circle in the centre on a blue background"
# Levels out of 255 within which a kept part counts as the same picture: the thin seam changes
# it a little (0.1 to 0.2); redrawn by the model through its VAE it drifts 1.5 to 10 away.
KEPT_WITHIN = 1.0


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    engine = LocalEngine(tmp_path_factory.mktemp("cache"), device="cpu")
    yield engine
    asyncio.run(engine.close())


@pytest.fixture(scope="module")
def source(engine: LocalEngine) -> Image.Image:
    [picture] = asyncio.run(engine.generate(shipped_request(prompt=PROMPT, steps=20, seeds=(3,))))
    return picture


async def drawn_on(engine: LocalEngine, canvas: Canvas) -> list[Image.Image]:
    width, height = canvas.image.size
    request = shipped_request(
        prompt=PROMPT,
        steps=20,
        width=width,
        height=height,
        init_image=canvas.image,
        mask=canvas.mask,
        strength=1.0,
    )
    return await engine.generate(request)


def largest_thing_area(picture: Image.Image) -> int:
    return max((blob.area for blob in things(picture)), default=0)


async def test_zoom_out_keeps_the_picture_smaller_in_the_centre(
    engine: LocalEngine, source: Image.Image
) -> None:
    canvas = zoom_out(source, 2.0)
    pictures = await drawn_on(engine, canvas)

    half = source.resize((32, 32), Image.Resampling.LANCZOS)
    for picture in pictures:
        assert picture.size == source.size
        assert pixel_distance(picture.crop(canvas.kept), half) < KEPT_WITHIN
        # The new border is drawn, not left as the canvas's flat fill: it goes on as the
        # picture's background does (blue), with no seam of another colour.
        border = np.asarray(picture)[:8].reshape(-1, 3).mean(axis=0)
        assert border[2] > 2 * max(border[0], border[1]), border
        # The circle is a quarter of its size, as a zoom out of 2x makes it.
        assert largest_thing_area(picture) < 0.4 * largest_thing_area(source)


@pytest.mark.parametrize("direction", ["left", "right", "up", "down"])
async def test_pan_grows_the_canvas_on_its_side_and_keeps_the_picture_on_the_other(
    engine: LocalEngine, source: Image.Image, direction: str
) -> None:
    canvas = pan(source, direction, 16)  # type: ignore[arg-type]
    pictures = await drawn_on(engine, canvas)

    grown = (96, 64) if direction in ("left", "right") else (64, 96)
    kept = {"left": (32, 0, 96, 64), "right": (0, 0, 64, 64), "up": (0, 32, 64, 96)}
    assert canvas.kept == kept.get(direction, (0, 0, 64, 64))
    for picture in pictures:
        assert picture.size == grown
        assert pixel_distance(picture.crop(canvas.kept), source) < KEPT_WITHIN


async def test_make_square_keeps_a_wide_picture_in_the_middle(engine: LocalEngine) -> None:
    [wide] = await engine.generate(
        shipped_request(prompt=PROMPT, steps=20, width=96, height=64, seeds=(4,))
    )
    canvas = make_square(wide, 16)
    pictures = await drawn_on(engine, canvas)

    assert canvas.kept == (0, 16, 96, 80)
    for picture in pictures:
        assert picture.size == (96, 96)
        assert pixel_distance(picture.crop(canvas.kept), wide) < KEPT_WITHIN


@pytest.mark.parametrize(
    ("regions", "box"),
    [(("left-half",), (0, 0, 32, 64)), (("top-right", "middle-right"), (43, 0, 64, 43))],
)
async def test_vary_region_changes_the_region_and_nothing_else(
    engine: LocalEngine,
    source: Image.Image,
    regions: tuple[str, ...],
    box: tuple[int, int, int, int],
) -> None:
    canvas = vary_region(source, regions)
    pictures = await drawn_on(engine, canvas)

    inside = np.zeros((64, 64), dtype=bool)
    inside[box[1] : box[3], box[0] : box[2]] = True
    assert (np.asarray(canvas.mask) > 0).tolist() == inside.tolist()
    # Outside the region, and off the thin seam at its edge, the picture is the same.
    outside = ~grown(inside, 3)
    before = np.asarray(source, dtype=np.float32)
    for picture in pictures:
        change = np.abs(np.asarray(picture, dtype=np.float32) - before).mean(axis=2)
        assert change[outside].mean() < 0.5
    # Inside, each of the four is redrawn: the changes a model makes from fresh noise.
    changes = [
        np.abs(np.asarray(picture, dtype=np.float32) - before).mean(axis=2)[inside].mean()
        for picture in pictures
    ]
    assert min(changes) > 10 * max(
        np.abs(np.asarray(p, dtype=np.float32) - before).mean(axis=2)[outside].mean()
        for p in pictures
    ), changes


def test_canvases_refuse_what_they_cannot_make(source: Image.Image) -> None:
    with pytest.raises(ValueError, match=r"1\.1x to 2x"):
        zoom_out(source, 3.0)
    with pytest.raises(ValueError, match="a pan goes"):
        pan(source, "sideways", 16)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="square already"):
        make_square(source, 16)
    with pytest.raises(ValueError, match="a region is one or more of"):
        vary_region(source, ["the bit with the cat"])
