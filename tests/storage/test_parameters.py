"""Job parameters: one typed model read through attributes, kept as the JSON rows have always
held, so that rows written before it read back, and write back, exactly as they were."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm.attributes import flag_modified

from storage import Database, Job, JobKind, ModelVersion, Origin, User, new_public_id
from storage.parameters import JobParameters

# What pickloop wrote for each kind of job before parameters had a type.
OLD_ROWS = {
    "imagine": {"width": 512, "height": 288, "steps": 20, "guidance": 7.5, "count": 4,
                "aspect": "16:9"},
    "blind": {"width": 64, "height": 64, "steps": 3, "guidance": 7.5, "count": 4,
              "versions": [2, 1, 1, 2]},
    "variation": {"width": 64, "height": 64, "steps": 3, "guidance": 7.5, "count": 4,
                  "strength": 0.35, "variation": "subtle", "blind": True},
    "upscale": {"width": 128, "height": 128, "source_width": 64, "source_height": 64,
                "factor": 2, "refine_strength": 0.3, "steps": 3, "guidance": 7.5, "count": 1},
}  # fmt: skip


async def _write_raw(database: Database, parameters: dict[str, object]) -> str:
    """A job row whose parameters are written as raw JSON, as an older pickloop left it."""
    public_id = new_public_id()
    async with database.sessions.begin() as session:
        owner = User(local_name="old", display_name="Old")
        version = ModelVersion(name=new_public_id(), base_model="embedded", serving=True)
        session.add_all([owner, version])
        await session.flush()
        job = Job(
            public_id=public_id,
            owner_id=owner.id,
            kind=JobKind.IMAGINE,
            prompt="a lighthouse",
            parameters=JobParameters(width=1, height=1, steps=1, guidance=1.0, count=1),
            base_seed=1,
            model_version_id=version.id,
            origin=Origin.CLI,
        )
        session.add(job)
        await session.flush()
        await session.execute(
            text("UPDATE jobs SET parameters = :raw WHERE id = :id"),
            {"raw": json.dumps(parameters), "id": job.id},
        )
    return public_id


async def _read(database: Database, public_id: str) -> Job:
    async with database.sessions() as session:
        return (await session.execute(select(Job).where(Job.public_id == public_id))).scalar_one()


async def _raw(database: Database, public_id: str) -> object:
    async with database.sessions() as session:
        stored = await session.execute(
            text("SELECT parameters FROM jobs WHERE public_id = :id"), {"id": public_id}
        )
        value = stored.scalar_one()
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.parametrize("kind", sorted(OLD_ROWS))
async def test_rows_written_before_parameters_had_a_type_read_and_write_back_unchanged(
    database: Database, kind: str
) -> None:
    public_id = await _write_raw(database, OLD_ROWS[kind])
    job = await _read(database, public_id)
    assert job.parameters.stored() == OLD_ROWS[kind]
    assert (job.parameters.width, job.parameters.steps) == (
        OLD_ROWS[kind]["width"],
        OLD_ROWS[kind]["steps"],
    )
    assert job.parameters.is_blind == (kind in ("blind", "variation"))

    # Written again through the model, the row holds what it held.
    async with database.sessions.begin() as session:
        again = await session.get_one(Job, job.id)
        again.parameters = again.parameters.model_copy()
        flag_modified(again, "parameters")
    assert await _raw(database, public_id) == OLD_ROWS[kind]


async def test_a_key_a_later_pickloop_adds_is_kept(database: Database) -> None:
    newer = {**OLD_ROWS["imagine"], "style": "raw"}
    public_id = await _write_raw(database, newer)
    assert (await _read(database, public_id)).parameters.stored() == newer


def test_a_recipe_without_its_size_or_with_a_wrong_variation_is_refused() -> None:
    with pytest.raises(ValidationError, match="width"):
        JobParameters.model_validate({"height": 64, "steps": 1, "guidance": 7.5, "count": 4})
    with pytest.raises(ValidationError, match="variation"):
        JobParameters.model_validate({**OLD_ROWS["variation"], "variation": "wild"})


def test_an_upscale_is_varied_at_its_source_size() -> None:
    upscale = JobParameters.model_validate(OLD_ROWS["upscale"])
    grid = JobParameters.model_validate(OLD_ROWS["imagine"])
    assert (upscale.grid_size, grid.grid_size) == ((64, 64), (512, 288))
