"""What the database itself guarantees, whoever writes to it: constraints, cascades, time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from storage import (
    Database,
    Event,
    EventKind,
    Image,
    Job,
    JobKind,
    ModelVersion,
    Origin,
    User,
    new_public_id,
)
from storage.parameters import JobParameters


async def _user(session: AsyncSession, name: str) -> User:
    user = User(local_name=name, display_name=name.title())
    session.add(user)
    await session.flush()
    return user


async def _model_version(session: AsyncSession) -> ModelVersion:
    version = ModelVersion(name=new_public_id(), base_model="embedded", serving=True)
    session.add(version)
    await session.flush()
    return version


async def _grid(
    session: AsyncSession, owner: User, version: ModelVersion, parent: Image | None = None
) -> Job:
    """A finished 2x2 grid: a job and its four images."""
    job = Job(
        public_id=new_public_id(),
        owner_id=owner.id,
        kind=JobKind.VARIATION if parent else JobKind.IMAGINE,
        parent_job_id=parent.job_id if parent else None,
        parent_image_id=parent.id if parent else None,
        prompt="a lighthouse at dusk",
        parameters=JobParameters(width=64, height=64, steps=2, guidance=7.5, count=4),
        base_seed=42,
        model_version_id=version.id,
        origin=Origin.CLI,
    )
    session.add(job)
    await session.flush()
    session.add_all(
        Image(
            public_id=new_public_id(),
            job_id=job.id,
            position=position,
            seed=42 + position,
            model_version_id=version.id,
            sha256=f"{position:064x}",
            width=64,
            height=64,
        )
        for position in range(4)
    )
    await session.flush()
    return job


async def _images(session: AsyncSession, job: Job) -> list[Image]:
    return list(
        await session.scalars(select(Image).where(Image.job_id == job.id).order_by("position"))
    )


async def _count(session: AsyncSession, model: type[object]) -> int:
    return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_deleting_a_person_removes_their_jobs_images_and_events(database: Database) -> None:
    async with database.sessions.begin() as session:
        version = await _model_version(session)
        ada, bob = await _user(session, "ada"), await _user(session, "bob")
        adas_job, bobs_job = await _grid(session, ada, version), await _grid(session, bob, version)
        for job, user in ((adas_job, ada), (bobs_job, bob)):
            first = (await _images(session, job))[0]
            session.add(
                Event(
                    user_id=user.id,
                    kind=EventKind.UPSCALE,
                    job_id=job.id,
                    image_id=first.id,
                    position=0,
                    origin=Origin.CLI,
                )
            )

    async with database.sessions.begin() as session:
        await session.execute(delete(User).where(User.id == ada.id))

    async with database.sessions() as session:
        assert (await session.scalars(select(Job.owner_id))).all() == [bob.id]
        assert {image.job_id for image in await session.scalars(select(Image))} == {bobs_job.id}
        assert (await session.scalars(select(Event.user_id))).all() == [bob.id]


async def test_deleting_a_job_orphans_the_jobs_made_from_it(database: Database) -> None:
    async with database.sessions.begin() as session:
        version = await _model_version(session)
        ada = await _user(session, "ada")
        parent = await _grid(session, ada, version)
        clicked = (await _images(session, parent))[2]
        child = await _grid(session, ada, version, parent=clicked)
        session.add(
            Event(
                user_id=ada.id,
                kind=EventKind.VARY_STRONG,
                job_id=parent.id,
                image_id=clicked.id,
                position=2,
                result_job_id=child.id,
                origin=Origin.CLI,
            )
        )

    async with database.sessions.begin() as session:
        await session.execute(delete(Job).where(Job.id == parent.id))

    async with database.sessions() as session:
        remaining = await session.get_one(Job, child.id)
        assert (remaining.parent_job_id, remaining.parent_image_id) == (None, None)
        assert len(await _images(session, remaining)) == 4
        # The click happened on the deleted grid, so it went with it.
        assert await _count(session, Event) == 0


async def test_deleting_a_result_job_keeps_the_click_that_started_it(database: Database) -> None:
    async with database.sessions.begin() as session:
        version = await _model_version(session)
        ada = await _user(session, "ada")
        grid = await _grid(session, ada, version)
        clicked = (await _images(session, grid))[1]
        upscale = await _grid(session, ada, version, parent=clicked)
        event = Event(
            user_id=ada.id,
            kind=EventKind.UPSCALE,
            job_id=grid.id,
            image_id=clicked.id,
            position=1,
            result_job_id=upscale.id,
            origin=Origin.CLI,
        )
        session.add(event)

    async with database.sessions.begin() as session:
        await session.execute(delete(Job).where(Job.id == upscale.id))

    async with database.sessions() as session:
        kept = await session.get_one(Event, event.id)
        assert (kept.image_id, kept.result_job_id) == (clicked.id, None)


async def test_two_images_cannot_share_a_grid_position(database: Database) -> None:
    async with database.sessions.begin() as session:
        version = await _model_version(session)
        job = await _grid(session, await _user(session, "ada"), version)

    async with database.sessions() as session:
        session.add(
            Image(
                public_id=new_public_id(),
                job_id=job.id,
                position=3,
                seed=1,
                sha256="f" * 64,
                width=64,
                height=64,
            )
        )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_public_ids_are_unique(database: Database) -> None:
    async with database.sessions.begin() as session:
        version = await _model_version(session)
        ada = await _user(session, "ada")
        first, second = await _grid(session, ada, version), await _grid(session, ada, version)
        taken_image_id = (await _images(session, first))[0].public_id

    for statement in (
        update(Job).where(Job.id == second.id).values(public_id=first.public_id),
        update(Image)
        .where(Image.job_id == second.id, Image.position == 0)
        .values(public_id=taken_image_id),
    ):
        async with database.sessions() as session:
            with pytest.raises(IntegrityError):
                await session.execute(statement)


async def test_a_person_has_exactly_one_identity(database: Database) -> None:
    for identity in ({"discord_id": 1234, "local_name": "ada"}, {}):
        async with database.sessions() as session:
            session.add(User(display_name="Ada", **identity))
            with pytest.raises(IntegrityError):
                await session.commit()


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("users", "consent"),
        ("jobs", "kind"),
        ("jobs", "status"),
        ("jobs", "origin"),
        ("events", "kind"),
        ("events", "origin"),
    ],
)
async def test_the_database_refuses_unknown_enum_values(
    database: Database, table: str, column: str
) -> None:
    async with database.sessions.begin() as session:
        version = await _model_version(session)
        ada = await _user(session, "ada")
        job = await _grid(session, ada, version)
        event = Event(user_id=ada.id, kind=EventKind.LIKE, job_id=job.id, origin=Origin.CLI)
        session.add(event)
    row_id = {"users": ada.id, "jobs": job.id, "events": event.id}[table]

    # Raw SQL, as another tool would write it: the ORM's own validation never runs.
    async with database.engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await connection.execute(
                text(f"UPDATE {table} SET {column} = 'bogus' WHERE id = :id"), {"id": row_id}
            )


async def test_image_positions_stay_inside_the_grid(database: Database) -> None:
    async with database.sessions.begin() as session:
        job = await _grid(session, await _user(session, "ada"), await _model_version(session))

    for position in (-1, 4):
        async with database.sessions() as session:
            session.add(
                Image(
                    public_id=new_public_id(),
                    job_id=job.id,
                    position=position,
                    seed=1,
                    sha256="e" * 64,
                    width=64,
                    height=64,
                )
            )
            with pytest.raises(IntegrityError):
                await session.commit()


async def test_a_reference_to_a_missing_row_is_refused(database: Database) -> None:
    async with database.sessions() as session:
        ada = await _user(session, "ada")
        session.add(Event(user_id=ada.id, kind=EventKind.LIKE, job_id=999_999, origin=Origin.CLI))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_times_come_back_as_the_same_instant_in_utc(database: Database) -> None:
    in_tokyo = datetime(2024, 3, 10, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=9)))
    async with database.sessions.begin() as session:
        ada = User(local_name="ada", display_name="Ada", created_at=in_tokyo)
        session.add(ada)

    async with database.sessions() as session:
        stored = await session.scalar(select(User.created_at).where(User.id == ada.id))

    assert stored == in_tokyo
    assert stored is not None and stored.tzinfo is UTC
    assert stored == datetime(2024, 3, 10, 0, 30, 15, 123456, tzinfo=UTC)


async def test_times_compare_in_queries(database: Database) -> None:
    now = datetime.now(UTC)
    async with database.sessions.begin() as session:
        session.add_all(
            User(local_name=f"user{days}", display_name="U", created_at=now - timedelta(days=days))
            for days in (0, 2, 5)
        )

    async with database.sessions() as session:
        recent = await session.scalars(
            select(User.local_name).where(User.created_at > now - timedelta(days=3))
        )
        assert set(recent) == {"user0", "user2"}


async def test_naive_times_are_refused(database: Database) -> None:
    async with database.sessions() as session:
        session.add(User(local_name="ada", display_name="Ada", created_at=datetime(2024, 1, 1)))
        with pytest.raises(StatementError, match="naive"):
            await session.commit()
