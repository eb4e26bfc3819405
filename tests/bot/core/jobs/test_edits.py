"""Zoom out, pan, make square and vary region through the job service: each click queues a grid
drawn around or into the picture, keeps the picture where it goes, and is recorded."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.errors import UserError
from bot.core.jobs.edits import EditRequest
from bot.core.jobs.job_view import JobView
from storage.models import Event, Job

# Levels out of 255: the kept part of a picture is put back as it was, off the thin seam where
# it meets the drawn part (the tiny random model draws noise, so a seam there differs a lot).
KEPT_WITHIN = 1.0
SEAM = 4


def off_seam(picture: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """The part of ``box`` more than ``SEAM`` pixels from its edges."""
    left, top, right, bottom = box
    return picture.crop((left + SEAM, top + SEAM, right - SEAM, bottom - SEAM))


async def make(app: App, job: JobView) -> JobView:
    await app.runner.run(job.job_id)
    return await app.service.show(job.job_id)


def opened(path: str) -> Image.Image:
    with Image.open(path) as picture:
        return picture.convert("RGB")


def distance(first: Image.Image, second: Image.Image) -> float:
    difference = np.asarray(first, dtype=np.float32) - np.asarray(second, dtype=np.float32)
    return float(np.abs(difference).mean())


async def test_zoom_out_of_an_upscale_keeps_it_smaller_in_the_centre_of_a_new_grid(
    app: App, alice: Actor
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a red circle --seed 7"))
    upscale = await make(app, await app.service.upscale(alice, grid.job_id, 2))

    zoomed = await make(
        app, await app.service.edit(alice, upscale.job_id, 1, EditRequest("zoom_out", zoom=2.0))
    )

    assert zoomed.status == "done" and len(zoomed.images) == 4
    # Edited at the grid's size, as an upscale is varied, with the upscale at half that.
    source = opened(grid.images[1].path)
    half = opened(upscale.images[0].path).resize((32, 32), Image.Resampling.LANCZOS)
    for image in zoomed.images:
        picture = opened(image.path)
        assert picture.size == source.size
        assert distance(off_seam(picture, (16, 16, 48, 48)), off_seam(half, (0, 0, 32, 32))) < (
            KEPT_WITHIN
        )
    assert zoomed.parameters.edit == "zoom_out" and zoomed.prompt == grid.prompt
    assert await clicks(app, "zoom_out") == 1


@pytest.mark.parametrize(("direction", "size"), [("left", (96, 64)), ("down", (64, 96))])
async def test_pan_grows_the_picture_on_its_side(
    app: App, alice: Actor, direction: str, size: tuple[int, int]
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a blue star --seed 3"))

    panned = await make(
        app,
        await app.service.edit(alice, grid.job_id, 1, EditRequest("pan", direction=direction)),  # type: ignore[arg-type]
    )

    source = opened(grid.images[0].path)
    kept = (32, 0, 96, 64) if direction == "left" else (0, 0, 64, 64)
    for image in panned.images:
        picture = opened(image.path)
        assert picture.size == size
        assert distance(picture.crop(kept), source) < KEPT_WITHIN
    assert await clicks(app, "pan") == 1


async def test_vary_region_with_a_new_prompt_changes_only_that_region(
    app: App, alice: Actor
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a green square --seed 11"))
    edit = EditRequest("vary_region", regions=("left-half",), prompt="a green square and a moon")

    varied = await make(app, await app.service.edit(alice, grid.job_id, 4, edit))

    source = np.asarray(opened(grid.images[3].path), dtype=np.float32)
    for image in varied.images:
        change = np.abs(np.asarray(opened(image.path), dtype=np.float32) - source).mean(axis=2)
        assert change[:, 36:].mean() < KEPT_WITHIN  # the right half, off the seam
        assert change[:, :32].mean() > 10 * max(change[:, 36:].mean(), 0.1)
    assert varied.prompt == "a green square and a moon"
    assert await clicks(app, "vary_region") == 1


async def test_a_picture_of_a_panned_grid_is_varied_and_panned_at_its_own_size(
    app: App, alice: Actor
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a blue star --seed 8"))
    panned = await make(
        app, await app.service.edit(alice, grid.job_id, 1, EditRequest("pan", direction="right"))
    )

    varied = await make(app, await app.service.vary(alice, panned.job_id, 2, strong=False))
    again = await app.service.edit(alice, panned.job_id, 2, EditRequest("pan", direction="right"))

    assert (varied.parameters.width, varied.parameters.height) == (96, 64)
    # 96 wide, grown by half of it: 48 more.
    assert (again.parameters.width, again.parameters.height) == (144, 64)


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda: EditRequest("zoom_out", zoom=3.0), "Zoom out by 1.1 to 2 times"),
        (lambda: EditRequest("pan", direction="sideways"), "Pan goes left, right, up, down"),  # type: ignore[arg-type]
        (lambda: EditRequest("vary_region", regions=("the cat",)), "not the cat"),
        (lambda: EditRequest("vary_region", regions=()), "Vary Region redraws one or more"),
    ],
)
def test_edits_that_cannot_be_made_are_refused_with_what_would_be_right(
    edit: object, said: str
) -> None:
    with pytest.raises(UserError, match=said):
        edit()  # type: ignore[operator]


async def test_make_square_of_a_square_picture_is_refused_and_changes_nothing(
    app: App, alice: Actor
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a red circle --seed 2"))

    with pytest.raises(UserError, match="square already"):
        await app.service.edit(alice, grid.job_id, 1, EditRequest("make_square"))

    assert await clicks(app, "make_square") == 0
    async with app.database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 1


async def test_make_square_of_a_wide_picture_keeps_it_in_the_middle(app: App, alice: Actor) -> None:
    grid = await make(app, await app.service.imagine(alice, "a red circle --ar 3:2 --seed 2"))
    source = opened(grid.images[0].path)
    assert source.width > source.height

    squared = await make(
        app, await app.service.edit(alice, grid.job_id, 1, EditRequest("make_square"))
    )

    side = squared.parameters.width
    assert squared.parameters.height == side >= source.width
    top = (side - source.height) // 2
    left = (side - source.width) // 2
    for image in squared.images:
        picture = opened(image.path)
        assert picture.size == (side, side)
        box = (left, top, left + source.width, top + source.height)
        assert distance(off_seam(picture, box), off_seam(source, (0, 0, *source.size))) < (
            KEPT_WITHIN
        )


async def clicks(app: App, kind: str) -> int:
    async with app.database.sessions() as session:
        query = select(func.count()).select_from(Event).where(Event.kind == kind)
        return int(await session.scalar(query) or 0)
