"""Export jobs: refused before anything is queued or written, with one clear reason; run
again after a crash, they end with what they wrote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App, open_app
from bot.core.data.exports import EXPORT_FORMATS, export_data
from bot.core.errors import UserError
from engine import LocalEngine
from storage.export import FORMATS
from storage.models import Job, JobStatus

OPERATOR = Actor.local("operator")


def test_the_bot_knows_the_same_formats_as_the_exporter() -> None:
    assert set(EXPORT_FORMATS) == set(FORMATS)


async def test_without_a_secret_the_export_says_so_and_writes_nothing(app: App) -> None:
    with pytest.raises(UserError, match="PICKLOOP_EXPORT_SECRET"):
        await app.data_jobs.export(OPERATOR, "pairs")
    assert not (app.settings.data_dir / "exports").exists()
    assert await app.service.list_jobs() == []


async def test_an_unknown_format_is_refused(app: App) -> None:
    with pytest.raises(UserError, match="not a format"):
        await app.data_jobs.export(OPERATOR, "jpegs")
    assert await app.service.list_jobs() == []


async def test_training_on_no_export_yet_is_refused(app: App) -> None:
    from engine.train.options import TrainingOptions

    with pytest.raises(UserError, match="no pairs export"):
        await app.data_jobs.fine_tune(OPERATOR, TrainingOptions(method="dpo"))
    assert await app.service.list_jobs() == []


@pytest.fixture
async def exporting_app(settings: Settings, local_engine: LocalEngine) -> AsyncIterator[App]:
    secret = SecretStr("a long random secret for the tests")
    async with open_app(
        settings.model_copy(update={"export_secret": secret}), engine=local_engine
    ) as opened:
        yield opened


async def queued_export_with_data(app: App) -> tuple[str, Path]:
    """An export job queued after Bob's U2 on Alice's grid (three pairs), and its folder."""
    grid = await app.service.imagine(Actor.local("alice"), "a red circle --steps 1")
    await app.runner.run(grid.job_id)
    await app.service.upscale(Actor.local("bob"), grid.job_id, 2)
    queued = await app.data_jobs.export(OPERATOR, "pairs")
    assert queued.parameters.export is not None
    return queued.job_id, Path(queued.parameters.export.out)


async def test_an_export_run_again_after_its_worker_died_ends_with_what_it_wrote(
    exporting_app: App,
) -> None:
    app = exporting_app
    job_id, folder = await queued_export_with_data(app)
    # The first attempt wrote the folder; its worker died before recording the job done.
    written = await export_data(app.settings, "pairs", folder)
    async with app.database.sessions.begin() as session:
        await session.execute(update(Job).where(Job.public_id == job_id).values(attempts=1))

    assert await app.runner.run(job_id) is JobStatus.DONE
    assert (await app.service.show(job_id)).outcome == written
    assert written["rows"] == 3


async def test_an_export_into_a_folder_someone_else_wrote_fails_and_leaves_it(
    exporting_app: App,
) -> None:
    app = exporting_app
    job_id, folder = await queued_export_with_data(app)
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")

    assert await app.runner.run(job_id) is JobStatus.FAILED
    assert "already exists" in ((await app.service.show(job_id)).error or "")
    assert [entry.name for entry in folder.iterdir()] == ["notes.txt"]
