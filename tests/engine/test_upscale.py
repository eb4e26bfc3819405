from pathlib import Path

from PIL import Image

from engine import LocalEngine, Progress
from tests.engine.support import pixel_distance


async def test_upscale_doubles_the_size_with_lanczos(
    local_engine: LocalEngine, tiny_model_dir: Path, circle_picture: Image.Image
) -> None:
    enlarged = await local_engine.upscale(str(tiny_model_dir), circle_picture)

    assert enlarged.size == (128, 128)
    assert enlarged.getpixel((64, 64)) == (255, 0, 0)
    assert enlarged.getpixel((4, 4)) == (0, 0, 128)


async def test_a_refined_upscale_redraws_the_enlargement(
    local_engine: LocalEngine, tiny_model_dir: Path, circle_picture: Image.Image
) -> None:
    seen: list[Progress] = []

    plain = await local_engine.upscale(str(tiny_model_dir), circle_picture)
    refined = await local_engine.upscale(
        str(tiny_model_dir),
        circle_picture,
        refine_strength=0.5,
        prompt="a red circle",
        seed=3,
        steps=4,
        on_progress=seen.append,
    )

    assert refined.size == (128, 128)
    assert pixel_distance(plain, refined) > 1.0
    assert seen == [Progress(1, 2), Progress(2, 2)]


async def test_a_refined_upscale_keeps_an_exact_factor_off_the_size_grid(
    local_engine: LocalEngine, tiny_model_dir: Path
) -> None:
    # 36x20 doubled is 72x40, which the tiny model (multiples of 16) cannot make directly.
    odd = Image.new("RGB", (36, 20), "orange")

    refined = await local_engine.upscale(
        str(tiny_model_dir), odd, factor=3, refine_strength=0.3, steps=4
    )

    assert refined.size == (108, 60)
