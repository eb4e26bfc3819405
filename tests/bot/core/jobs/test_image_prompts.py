"""Image prompts through the job service: a grid starts from the pictures given (one, or a
blend of 2 to 5), keeps more of them the higher --iw is, and refuses pictures it cannot take
before anything is written."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App, open_app
from bot.core.errors import UserError
from bot.core.jobs.image_prompts import Upload
from bot.core.jobs.job_view import JobView
from engine import EMBEDDED_MODEL, LocalEngine
from engine.blending import cover
from storage.models import ImagePrompt, Job
from tests.bot.conftest import make_settings


@pytest.fixture
async def app(tmp_path: Path, database_url: str, local_engine: LocalEngine) -> AsyncIterator[App]:
    """The embedded model: the tiny random one's decoder cannot draw any picture back."""
    settings: Settings = make_settings(
        tmp_path / "data", database_url, tmp_path, model=EMBEDDED_MODEL, default_steps=10
    )
    async with open_app(settings, engine=local_engine) as opened:
        yield opened


def drawing(
    size: tuple[int, int], background: str, shape: str, box: tuple[int, ...]
) -> Image.Image:
    picture = Image.new("RGB", size, background)
    ImageDraw.Draw(picture).ellipse(box, fill=shape)
    return picture


def png(picture: Image.Image, **save: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=str(save.pop("format", "PNG")), **save)
    return buffer.getvalue()


# Pictures of the embedded model's world (shapes on black), which its small decoder can draw
# back: a picture unlike any it learnt comes back 40 levels off even at --iw 3.
BLUE_SUN = drawing((120, 80), "black", "orange", (40, 20, 80, 60))
GREEN_EGG = drawing((80, 80), "black", "green", (10, 10, 40, 70))


async def make(app: App, job: JobView) -> JobView:
    await app.runner.run(job.job_id)
    return await app.service.show(job.job_id)


def pictures_of(job: JobView) -> list[Image.Image]:
    return [Image.open(image.path).convert("RGB") for image in job.images]


def distance(first: Image.Image, second: Image.Image) -> float:
    difference = np.asarray(first, dtype=np.float32) - np.asarray(second, dtype=np.float32)
    return float(np.abs(difference).mean())


def mean_distance(job: JobView, target: Image.Image) -> float:
    pictures = pictures_of(job)
    return float(np.mean([distance(picture, cover(target, picture.size)) for picture in pictures]))


async def test_a_grid_keeps_more_of_its_image_prompt_the_higher_the_image_weight(
    app: App, alice: Actor
) -> None:
    sun = [Upload("sun.png", png(BLUE_SUN))]
    plain = await make(app, await app.service.imagine(alice, "a sun --seed 3 --ar 3:2"))
    given = await app.service.read_uploads(sun)
    light = await make(
        app, await app.service.imagine(alice, "a sun --seed 3 --iw 0.5", images=given)
    )
    heavy = await make(app, await app.service.imagine(alice, "a sun --seed 3 --iw 3", images=given))

    # The picture's shape (3:2) without --ar; and the weight is in the recipe.
    assert (heavy.parameters.width, heavy.parameters.height) == (
        plain.parameters.width,
        plain.parameters.height,
    )
    assert heavy.parameters.images == 1 and heavy.parameters.image_weight == 3.0
    assert light.parameters.image_weight == 0.5
    far, nearer, nearest = (mean_distance(job, BLUE_SUN) for job in (plain, light, heavy))
    assert nearest < nearer < far and nearest < 0.5 * far, (far, nearer, nearest)


async def test_a_blend_starts_from_every_picture(app: App, alice: Actor) -> None:
    sun, egg = Upload("sun.png", png(BLUE_SUN)), Upload("egg.png", png(GREEN_EGG))

    async def grid(*uploads: Upload) -> JobView:
        given = await app.service.read_uploads(uploads)
        return await make(
            app, await app.service.imagine(alice, "--seed 5 --iw 3 --ar 1:1", images=given)
        )

    blended, sun_only, egg_only = await grid(sun, egg), await grid(sun), await grid(egg)

    assert blended.prompt == "" and blended.parameters.images == 2
    # Nearer the egg than the sun's own grid is, and nearer the sun than the egg's.
    assert mean_distance(blended, GREEN_EGG) < mean_distance(sun_only, GREEN_EGG)
    assert mean_distance(blended, BLUE_SUN) < mean_distance(egg_only, BLUE_SUN)


async def test_a_reroll_starts_from_the_same_pictures(app: App, alice: Actor) -> None:
    given = await app.service.read_uploads([Upload("sun.png", png(BLUE_SUN))])
    grid = await make(app, await app.service.imagine(alice, "a sun --iw 3", images=given))

    rerolled = await make(app, await app.service.reroll(alice, grid.job_id))

    assert rerolled.parameters.images == 1
    assert mean_distance(rerolled, BLUE_SUN) < 1.2 * mean_distance(grid, BLUE_SUN)


def many_pixels() -> bytes:
    # One colour: a few kilobytes of PNG that would unpack to 75 MB.
    return png(Image.new("RGB", (5000, 5000), "white"))


@pytest.mark.parametrize(
    ("uploads", "refusal"),
    [
        ([Upload("notes.txt", b"not a picture at all")], "notes.txt is not a picture"),
        ([Upload("cut.png", png(BLUE_SUN)[:60])], "cut.png is not a picture"),
        ([Upload("huge.png", many_pixels())], "huge.png is 5000x5000"),
        ([Upload("heavy.png", bytes(9 * 1024 * 1024))], "heavy.png weighs 9.0 MB"),
        ([Upload(f"{n}.png", png(BLUE_SUN)) for n in range(6)], "At most 5 image prompts"),
    ],
)
async def test_pictures_it_cannot_take_are_refused_and_nothing_is_written(
    app: App, alice: Actor, uploads: list[Upload], refusal: str
) -> None:
    with pytest.raises(UserError, match=refusal):
        await app.service.imagine_all(alice, "a sun", images=uploads)

    async with app.database.sessions() as session:
        assert await session.scalar(select(func.count(Job.id))) == 0
    assert not any(path.is_file() for path in app.store.root.rglob("*"))


async def test_image_weight_is_for_image_prompts_and_at_most_three(app: App, alice: Actor) -> None:
    with pytest.raises(UserError, match="attach an image"):
        await app.service.imagine_all(alice, "a sun --iw 2")
    with pytest.raises(UserError, match="--iw must be from 0 to 3"):
        await app.service.imagine_all(
            alice, "a sun --iw 4", images=[Upload("s.png", png(BLUE_SUN))]
        )
    with pytest.raises(UserError, match="prompt is empty"):
        await app.service.imagine_all(alice, "--ar 2:3")


async def test_a_photo_is_kept_upright_and_without_its_metadata(app: App, alice: Actor) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise to show
    exif[0x010F] = "PhoneMaker"
    photo = png(BLUE_SUN, format="JPEG", exif=exif.tobytes(), quality=95)

    given = await app.service.read_uploads([Upload("photo.jpg", photo)])
    grid = await app.service.imagine(alice, "a sun", images=given)

    # Shown upright it is 80 wide and 120 high: the grid is 2:3, not 3:2.
    assert grid.parameters.height > grid.parameters.width
    async with app.database.sessions() as session:
        sha = await session.scalar(select(ImagePrompt.sha256))
    assert sha is not None
    with Image.open(io.BytesIO(app.store.read(sha))) as kept:
        assert kept.format == "PNG" and kept.size == (80, 120)
        assert not kept.getexif() and "exif" not in kept.info
