"""A person's say over their data: the first-use notice, consent, download and delete."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import select, update

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.errors import PermissionDenied, UserError
from bot.core.jobs.image_prompts import Upload
from bot.core.jobs.job_view import JobView
from bot.core.people.privacy import DATA_FILE
from storage.models import Consent, ImagePrompt, Job, JobStatus, User, utcnow
from tests.bot.core.jobs.test_service import events, make


async def shown(app: App, job_id: str) -> JobView:
    return await app.service.show(job_id)


async def test_first_contact_is_true_once_per_person_even_at_once(
    app: App, alice: Actor, bob: Actor
) -> None:
    # Nothing kept about her yet: nothing to tell, and no row made just for the notice.
    assert not await app.privacy.first_contact(alice)
    async with app.database.sessions() as session:
        assert (await session.execute(select(User))).first() is None
    await app.privacy.set_consent(alice, opted_in=True)
    firsts = await asyncio.gather(*(app.privacy.first_contact(alice) for _ in range(5)))
    assert sorted(firsts) == [False, False, False, False, True]
    assert not await app.privacy.first_contact(alice)
    # Someone who used pickloop before the notice existed is told once too.
    await make(app, await app.service.imagine(bob, "a cat"))
    assert await app.privacy.first_contact(bob)
    assert not await app.privacy.first_contact(bob)


async def test_consent_and_summary(app: App, alice: Actor) -> None:
    assert (await app.privacy.summary(alice)).consent is Consent.UNKNOWN
    assert await app.privacy.set_consent(alice, opted_in=False) is Consent.OPTED_OUT
    await make(app, await app.service.imagine(alice, "a cat"))
    summary = await app.privacy.summary(alice)
    assert (summary.consent, summary.jobs, summary.images, summary.events) == (
        Consent.OPTED_OUT,
        1,
        4,
        0,
    )
    await app.privacy.set_consent(alice, opted_in=True)
    assert (await app.privacy.summary(alice)).consent is Consent.OPTED_IN


async def test_delete_removes_the_persons_rows_and_the_files_no_one_else_names(
    app: App, alice: Actor, bob: Actor
) -> None:
    # The same prompt and seed draw the same pictures: alice's and bob's rows name one file.
    shared = await make(app, await app.service.imagine(alice, "a cat --seed 7"))
    bobs_copy = await make(app, await app.service.imagine(bob, "a cat --seed 7"))
    assert [i.sha256 for i in shared.images] == [i.sha256 for i in bobs_copy.images]
    own = await make(app, await app.service.imagine(alice, "a dog --seed 8"))
    bobs_upscale = await make(app, await app.service.upscale(bob, own.job_id, 1))
    await app.service.react(alice, bobs_upscale.images[0].id, "❤️")

    deleted = await app.privacy.delete(alice)

    # Alice's two grids (4 images + a grid file each); only "a dog"'s files were hers alone.
    assert (deleted.jobs, deleted.images, deleted.events, deleted.files) == (2, 8, 1, 5)
    for image in own.images:
        assert not Path(image.path).exists()
    assert own.grid_path is not None and not Path(own.grid_path).exists()
    for image in shared.images:
        assert Path(image.path).exists()
    assert shared.grid_path is not None and Path(shared.grid_path).exists()
    # Bob keeps his jobs, even the one made from alice's picture, and its file.
    assert (await shown(app, bobs_copy.job_id)).status == "done"
    kept = await shown(app, bobs_upscale.job_id)
    assert kept.parent_job_id is None and Path(kept.images[0].path).exists()
    async with app.database.sessions() as session:
        names = set((await session.execute(select(User.local_name))).scalars())
        owners = set((await session.execute(select(Job.owner_id))).scalars())
    assert names == {"bob"} and len(owners) == 1
    # Bob's click on alice's grid went with the grid; nothing of alice is left.
    assert await events(app) == []
    assert await app.privacy.summary(alice) == await app.privacy.summary(Actor.local("nobody"))
    assert (await app.privacy.delete(alice)).jobs == 0


async def test_delete_waits_for_a_running_job_and_takes_queued_ones(app: App, alice: Actor) -> None:
    running = await app.service.imagine(alice, "a cat")
    async with app.database.sessions.begin() as session:
        await session.execute(
            update(Job)
            .where(Job.public_id == running.job_id)
            .values(status=JobStatus.RUNNING, lease_expires_at=utcnow() + timedelta(hours=1))
        )
    with pytest.raises(UserError, match="being made right now"):
        await app.privacy.delete(alice)
    assert (await app.privacy.summary(alice)).jobs == 1

    async with app.database.sessions.begin() as session:
        await session.execute(update(Job).values(status=JobStatus.DONE))
    queued = await app.service.imagine(alice, "a dog")
    assert (await app.privacy.delete(alice)).jobs == 2
    # The runner finds the queued job gone and ends quietly.
    assert await app.runner.run(queued.job_id) is JobStatus.CANCELLED


async def test_a_blocked_person_deleting_their_data_stays_blocked(
    app: App, alice: Actor, bob: Actor
) -> None:
    grid = await make(app, await app.service.imagine(alice, "a cat"))
    await app.service.react(bob, grid.images[0].id, "❤️")
    async with app.database.sessions.begin() as session:
        await session.execute(update(User).where(User.local_name == "alice").values(blocked=True))

    deleted = await app.privacy.delete(alice)

    assert (deleted.jobs, deleted.images) == (1, 4)
    assert not Path(grid.grid_path or "").exists()
    summary = await app.privacy.summary(alice)
    assert (summary.jobs, summary.images, summary.events) == (0, 0, 0)
    with pytest.raises(PermissionDenied):
        await app.service.imagine(alice, "a dog")


async def test_download_holds_the_persons_data_and_files_only(
    app: App, alice: Actor, bob: Actor
) -> None:
    await app.privacy.set_consent(alice, opted_in=True)
    grid = await make(app, await app.service.imagine(alice, "a cat --seed 3 --no fog"))
    bobs = await make(app, await app.service.imagine(bob, "a bird"))
    await make(app, await app.service.imagine(bob, "a secret of bob"))
    upscale = await make(app, await app.service.upscale(alice, bobs.job_id, 2))

    download = await app.privacy.download(alice)

    assert download.images_included
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        record = json.loads(archive.read(DATA_FILE))
        names = set(archive.namelist())
        for image in grid.images:
            assert archive.read(f"images/{image.id}.png") == Path(image.path).read_bytes()
    assert record["person"]["local_name"] == "alice"
    assert record["person"]["consent"] == "opted_in"
    assert [job["job_id"] for job in record["jobs"]] == [grid.job_id, upscale.job_id]
    assert record["jobs"][0]["negative_prompt"] == "fog"
    assert record["jobs"][0]["base_seed"] == 3
    assert [(e["kind"], e["job_id"]) for e in record["events"]] == [("upscale", bobs.job_id)]
    assert "a secret of bob" not in json.dumps(record)
    assert names == {
        DATA_FILE,
        *(f"images/{image.id}.png" for image in grid.images),
        f"grids/{grid.job_id}.png",
        f"images/{upscale.images[0].id}.png",
    }
    # Nothing of bob's grid but the picture alice upscaled into her own.
    assert not any(image.id in name for image in bobs.images for name in names)

    small = await app.privacy.download(alice, size_limit=len(download.data) // 2)
    assert not small.images_included
    with zipfile.ZipFile(io.BytesIO(small.data)) as archive:
        assert archive.namelist() == [DATA_FILE]
        assert len(json.loads(archive.read(DATA_FILE))["images"]) == 5


async def test_someone_unknown_has_nothing_to_download(app: App) -> None:
    download = await app.privacy.download(Actor.local("nobody"))
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        record = json.loads(archive.read(DATA_FILE))
    assert (record["person"], record["jobs"], record["images"]) == (None, [], [])


def picture_file(colour: str) -> Upload:
    buffer = io.BytesIO()
    PILImage.new("RGB", (40, 40), colour).save(buffer, format="PNG")
    return Upload(f"{colour}.png", buffer.getvalue())


async def test_the_pictures_a_person_gave_are_in_their_download_and_go_with_their_data(
    app: App, alice: Actor, bob: Actor
) -> None:
    # Bob happens to give one of the same pictures: its file is his too, and stays.
    [grid] = await app.service.imagine_all(
        alice, "a blend", images=[picture_file("red"), picture_file("teal")]
    )
    await app.service.imagine_all(bob, "mine", images=[picture_file("red")])
    async with app.database.sessions() as session:
        given = {
            row.position: row.sha256
            for row in (
                await session.execute(
                    select(ImagePrompt).join(Job).where(Job.public_id == grid.job_id)
                )
            ).scalars()
        }

    download = await app.privacy.download(alice)

    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        record = json.loads(archive.read(DATA_FILE))
        for position, sha in given.items():
            name = f"image-prompts/{grid.job_id}-{position + 1}.png"
            assert archive.read(name) == app.store.read(sha)
    assert [(row["job_id"], row["position"]) for row in record["image_prompts"]] == [
        (grid.job_id, 0),
        (grid.job_id, 1),
    ]

    deleted = await app.privacy.delete(alice)

    assert deleted.files == 1
    assert not app.store.exists(given[1]) and app.store.exists(given[0])
    async with app.database.sessions() as session:
        left = (await session.execute(select(ImagePrompt.sha256))).scalars().all()
    assert left == [given[0]]
