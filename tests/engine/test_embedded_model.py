"""The trained toy model that ships in the package and serves by default.

It must load offline through the same loader as any model, give the same grid for the same
seeds, and draw what a prompt asks for: judged by the toy evaluator over several seeds, against a
threshold the random tiny model fails on the same prompts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from engine import EMBEDDED_MODEL, RANDOM_MODEL, LocalEngine
from engine.embedded import SHIPPED_FOLDER
from engine.toy.captions import caption as caption_of
from engine.toy.judge import Accuracy, judge, score, things
from engine.toy.model import check_pipeline_folder
from engine.toy.scene import Scene
from engine.toy.world import evaluation_scenes, training_scenes
from tests.engine.support import RequestFactory
from tests.engine.test_adapters import make_adapter

shipped_request = RequestFactory(EMBEDDED_MODEL)
SEEDS = (101, 202, 303, 404)
# Far above what drawing at random scores (1 in 8 at best, and the random tiny model scores
# about 0.01), well below what the shipped model scores on held-out captions.
THRESHOLD = 0.6


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    engine = LocalEngine(tmp_path_factory.mktemp("cache"), device="cpu")
    yield engine
    asyncio.run(engine.close())


def held_out_one_thing_scenes(count: int) -> list[tuple[Scene, str]]:
    """Captions of combinations the model never saw, one thing each, of distinct colours."""
    chosen: dict[str, tuple[Scene, str]] = {}
    for scene, caption in evaluation_scenes(400, seed=7):
        if len(scene.things) == 1:
            chosen.setdefault(scene.things[0].colour, (scene, caption))
    return list(chosen.values())[:count]


async def drawn(engine: LocalEngine, model: str, scenes: list[tuple[Scene, str]]) -> Accuracy:
    verdicts = []
    for scene, caption in scenes:
        images = await engine.generate(RequestFactory(model)(prompt=caption, steps=20, seeds=SEEDS))
        verdicts += [judge(image, scene) for image in images]
    return score(verdicts)


async def test_it_loads_offline_through_the_public_loader(
    engine: LocalEngine, tmp_path: Path, no_network: None
) -> None:
    cache = tmp_path / "cache"
    own = LocalEngine(cache, device="cpu")
    try:
        info = await own.describe(EMBEDDED_MODEL)
    finally:
        await own.close()

    assert info.source == str(SHIPPED_FOLDER)
    assert (info.native_width, info.native_height) == (64, 64)
    # Nothing is built or downloaded into the cache for it: it is in the package already.
    assert not cache.exists() or not any(cache.iterdir())
    # The ways diffusers' scripts read a pretrained folder work on it too.
    check_pipeline_folder(SHIPPED_FOLDER)


def test_it_ships_small_with_its_model_card() -> None:
    weights = sum(path.stat().st_size for path in SHIPPED_FOLDER.rglob("*.safetensors"))
    card = (SHIPPED_FOLDER / "README.md").read_text()

    assert weights <= 40 * 1024 * 1024
    assert "## Training" in card and "## Evaluation" in card
    assert "random tiny pipeline (floor)" in card


async def test_a_fixed_seed_gives_the_same_grid_twice(engine: LocalEngine) -> None:
    request = shipped_request(prompt="a large green star in the centre on a red background")
    first = await engine.generate(request)
    second = await engine.generate(request)
    other = await engine.generate(shipped_request(prompt=request.prompt, seeds=(1, 2, 3, 4)))

    assert [image.tobytes() for image in first] == [image.tobytes() for image in second]
    assert [image.tobytes() for image in first] != [image.tobytes() for image in other]


async def test_it_draws_the_colours_it_is_asked_for(engine: LocalEngine) -> None:
    scenes = held_out_one_thing_scenes(6)
    shipped = await drawn(engine, EMBEDDED_MODEL, scenes)
    floor = await drawn(engine, RANDOM_MODEL, scenes)

    assert shipped["n_images"] == floor["n_images"] == 24
    assert shipped["color_accuracy"] >= THRESHOLD, shipped
    assert shipped["background_accuracy"] >= THRESHOLD, shipped
    # The threshold tells a model that follows its prompt from one that does not.
    assert floor["color_accuracy"] < THRESHOLD and floor["background_accuracy"] < THRESHOLD


async def test_a_prompt_that_leaves_the_size_open_gets_grids_of_both_sizes(
    engine: LocalEngine,
) -> None:
    """What a prompt does not say, the model chooses seed by seed: the four pictures of a grid
    are not always four copies of one."""
    scenes = [scene for scene, _ in training_scenes(7, 60) if len(scene.things) == 1][:8]
    mixed = 0
    for scene in scenes:
        prompt = caption_of(scene, 0, leave_out={"size"})
        images = await engine.generate(shipped_request(prompt=prompt, steps=20, seeds=SEEDS))
        sizes = set()
        for image in images:
            seen = [blob for blob in things(image) if blob.colour == scene.things[0].colour]
            if seen:
                sizes.add(max(seen, key=lambda blob: blob.area).size)
        mixed += sizes == {"small", "large"}

    assert mixed >= 2, f"{mixed} of {len(scenes)} grids showed both sizes"


async def test_variations_and_upscales_work_on_it(engine: LocalEngine) -> None:
    [source] = await engine.generate(
        shipped_request(
            prompt="a small blue circle on the left on a yellow background", steps=20, seeds=(5,)
        )
    )
    variations = await engine.generate(
        shipped_request(
            prompt="a small blue circle on the left on a yellow background",
            steps=20,
            init_image=source,
            strength=0.35,
        )
    )
    upscaled = await engine.upscale(EMBEDDED_MODEL, source, factor=2)

    assert [image.size for image in variations] == [(64, 64)] * 4
    assert upscaled.size == (128, 128)
    # A subtle variation keeps the picture's background.
    corner = source.getpixel((1, 1))
    assert all(_close(image.getpixel((1, 1)), corner) for image in variations)


def _close(first: object, second: object, tolerance: int = 40) -> bool:
    assert isinstance(first, tuple) and isinstance(second, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(first, second, strict=True))


def test_a_lora_adapter_loads_onto_it(tmp_path: Path) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    from engine.loader import load_model

    pipeline = load_model(str(SHIPPED_FOLDER), "cpu", torch.float32).text_to_image
    assert isinstance(pipeline, StableDiffusionPipeline)
    prompt = "a large white square at the top on a green background"

    def picture() -> Image.Image:
        generator = torch.Generator().manual_seed(3)
        result = pipeline(prompt, num_inference_steps=10, generator=generator).images[0]
        assert isinstance(result, Image.Image)
        return result

    before = picture()
    pipeline.load_lora_weights(make_adapter(SHIPPED_FOLDER, tmp_path, seed=0), adapter_name="tuned")
    tuned = picture()
    pipeline.disable_lora()

    assert tuned.tobytes() != before.tobytes()
    assert picture().tobytes() == before.tobytes()
