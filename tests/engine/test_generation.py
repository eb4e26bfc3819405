import pytest
from PIL import Image

from engine import EngineError, LocalEngine, Progress
from tests.engine.support import RequestFactory, pixel_distance


async def test_one_image_per_seed_at_the_requested_size(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    images = await local_engine.generate(request_for(width=96, height=64))

    assert len(images) == 4
    assert all(image.size == (96, 64) and image.mode == "RGB" for image in images)


async def test_the_same_request_gives_the_same_pixels(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    first = await local_engine.generate(request_for())
    second = await local_engine.generate(request_for())

    assert [image.tobytes() for image in first] == [image.tobytes() for image in second]


async def test_each_image_depends_on_its_own_seed_alone(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    batch = await local_engine.generate(request_for(seeds=(11, 12, 13, 14)))
    (alone,) = await local_engine.generate(request_for(seeds=(13,)))
    reordered = await local_engine.generate(request_for(seeds=(13, 99)))

    assert pixel_distance(alone, batch[2]) < 1.0
    assert pixel_distance(reordered[0], batch[2]) < 1.0


async def test_different_seeds_give_different_images(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    images = await local_engine.generate(request_for())

    distances = [pixel_distance(a, b) for i, a in enumerate(images) for b in images[i + 1 :]]
    assert min(distances) > 5.0


async def test_the_prompt_steers_the_image(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    (red,) = await local_engine.generate(request_for(seeds=(5,), prompt="a red circle"))
    (green,) = await local_engine.generate(request_for(seeds=(5,), prompt="a green star"))
    (avoided,) = await local_engine.generate(
        request_for(seeds=(5,), prompt="a red circle", negative_prompt="green")
    )

    assert pixel_distance(red, green) > 1.0
    assert pixel_distance(red, avoided) > 1.0


async def test_progress_counts_every_denoising_step_in_order(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    seen: list[Progress] = []

    await local_engine.generate(request_for(steps=4), seen.append)

    assert seen == [Progress(step, 4) for step in range(1, 5)]


async def test_image_to_image_starts_from_the_init_image(
    local_engine: LocalEngine, request_for: RequestFactory, circle_picture: Image.Image
) -> None:
    other_picture = Image.new("RGB", (32, 32), "white")
    variations = request_for(seeds=(7, 8), init_image=circle_picture, strength=0.7)

    first = await local_engine.generate(variations)
    again = await local_engine.generate(variations)
    (from_other,) = await local_engine.generate(
        request_for(seeds=(7,), init_image=other_picture, strength=0.7)
    )
    (from_text,) = await local_engine.generate(request_for(seeds=(7,)))

    assert [image.size for image in first] == [(64, 64)] * 2
    assert first[0].tobytes() == again[0].tobytes()
    # Random weights carry little of any image through; the output still depends on it.
    assert first[0].tobytes() != from_other.tobytes()
    assert pixel_distance(first[0], from_text) > 1.0


async def test_a_strong_variation_redraws_more_of_the_image_than_a_subtle_one(
    local_engine: LocalEngine, request_for: RequestFactory, circle_picture: Image.Image
) -> None:
    # With random weights the pixels say nothing about closeness to the init image, but how
    # much of the denoising the strength sends back through the model is plain to see.
    subtle: list[Progress] = []
    strong: list[Progress] = []

    await local_engine.generate(
        request_for(steps=20, init_image=circle_picture, strength=0.35), subtle.append
    )
    await local_engine.generate(
        request_for(steps=20, init_image=circle_picture, strength=0.7), strong.append
    )

    assert subtle[-1] == Progress(7, 7)
    assert strong[-1] == Progress(14, 14)


async def test_a_subtle_variation_over_few_steps_still_takes_one_step(
    local_engine: LocalEngine, request_for: RequestFactory, circle_picture: Image.Image
) -> None:
    seen: list[Progress] = []

    images = await local_engine.generate(
        request_for(steps=2, init_image=circle_picture, strength=0.35), seen.append
    )

    assert len(images) == 4
    assert seen == [Progress(1, 1)]


async def test_pipeline_errors_reach_the_caller_as_engine_errors(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    with pytest.raises(EngineError, match="divisible by 8"):
        await local_engine.generate(request_for(width=66))


def test_a_request_needs_seeds_and_strength_goes_with_an_init_image(
    request_for: RequestFactory, circle_picture: Image.Image
) -> None:
    with pytest.raises(ValueError, match="seed"):
        request_for(seeds=())
    with pytest.raises(ValueError, match="together"):
        request_for(init_image=circle_picture)
    with pytest.raises(ValueError, match="together"):
        request_for(strength=0.5)
