"""What a model family cannot draw is refused when it is asked for, before anything is queued:
--tile and prompt weights on a transformer model (SD3), with the reason; a weighted prompt
that cannot be read, on any model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.actor import Actor
from bot.core.app import App, open_app
from bot.core.errors import UserError
from engine import LocalEngine
from storage.models import Job
from tests.bot.conftest import make_settings


@pytest.fixture
async def sd3_app(
    tmp_path: Path, database_url: str, tiny_sd3_model_dir: Path, local_engine: LocalEngine
) -> AsyncIterator[App]:
    settings = make_settings(tmp_path / "data", database_url, tiny_sd3_model_dir)
    async with open_app(settings, engine=local_engine) as opened:
        yield opened


async def test_a_transformer_model_refuses_tile_and_weights_before_queuing(
    sd3_app: App, alice: Actor
) -> None:
    with pytest.raises(UserError, match="--tile needs a UNet model"):
        await sd3_app.service.imagine(alice, "a red circle --tile")
    with pytest.raises(UserError, match="takes no prompt weights"):
        await sd3_app.service.imagine(alice, "a red circle::2 fog")

    async with sd3_app.database.sessions() as session:
        assert await session.scalar(select(func.count(Job.id))) == 0
    plain = await sd3_app.service.imagine(alice, "a red circle")
    assert plain.status == "queued"


async def test_a_weighted_prompt_is_queued_and_a_malformed_one_refused(
    app: App, alice: Actor
) -> None:
    with pytest.raises(UserError, match="A part of a multi-prompt is empty"):
        await app.service.imagine(alice, "::2 a red circle")

    queued = await app.service.imagine(alice, "a red circle::2 a blue square --seed 3")
    await app.runner.run(queued.job_id)

    done = await app.service.show(queued.job_id)
    assert done.status == "done" and done.prompt == "a red circle::2 a blue square"
