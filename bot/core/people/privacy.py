"""What pickloop keeps about a person, and their say over it: the first-use notice, consent to
dataset export, a download of everything, and deletion.

Image files are shared by content (the store is content-addressed), so deleting a person's rows
removes only the files that no row of anyone else still names, and only once the rows are gone
for good (after the commit): a failed delete leaves every file its rows need.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.core.actor import Actor, find_user, get_or_create_user, identifies
from bot.core.errors import UserError
from storage.db import Database, rows_changed
from storage.imagestore import ImageStore, ImageStoreError
from storage.models import (
    Consent,
    Event,
    FlywheelRound,
    Image,
    ImagePrompt,
    Job,
    JobStatus,
    ModelVersion,
    Profile,
    User,
    utcnow,
)
from storage.profiles import personal_key, profile_by_key, profile_folder

DATA_FILE = "pickloop-data.json"
# Bind parameters per IN (...) list: far below SQLite's and asyncpg's limits.
_CHUNK = 500
# Room for a zip's own headers per file, when guessing whether the images fit an upload.
_ZIP_ENTRY_OVERHEAD = 200


@dataclass(frozen=True)
class Summary:
    """What pickloop holds about a person right now."""

    consent: Consent
    jobs: int
    images: int
    events: int


@dataclass(frozen=True)
class Download:
    """A zip of the person's data; ``images_included`` is False when the files did not fit."""

    data: bytes
    images_included: bool


@dataclass(frozen=True)
class Deleted:
    """What a delete removed: the person's rows, and the image files no one else names."""

    jobs: int
    images: int
    events: int
    files: int
    # Their profile (--p): its adapters, training sets and share codes.
    profile: bool = False


class PrivacyService:
    def __init__(self, database: Database, store: ImageStore, profiles_dir: Path) -> None:
        self._database = database
        self._store = store
        # Where the flywheel keeps each profile's training sets and adapters.
        self._profiles_dir = profiles_dir

    async def first_contact(self, actor: Actor) -> bool:
        """True exactly once per person pickloop keeps something about: the first time, when
        they should be told what is kept.

        Someone with no row is not told (nothing is kept) and no row is made for them: after
        /privacy delete, a job of theirs that was still on its way must not bring one back.
        """
        async with self._database.sessions() as session:
            # Asked after every job: the usual answer costs a read, not a write.
            known = await find_user(session, actor)
            if known is not None and known.privacy_notice_at is not None:
                return False
        async with self._database.sessions.begin() as session:
            # The write comes before any read: it takes SQLite's write lock (PostgreSQL's row
            # lock), so of two first uses at once the second waits and then finds it done.
            return await _mark_noticed(session, actor)

    async def summary(self, actor: Actor) -> Summary:
        async with self._database.sessions() as session:
            user = await find_user(session, actor)
            if user is None:
                return Summary(Consent.UNKNOWN, jobs=0, images=0, events=0)
            jobs = await _count(session, select(func.count(Job.id)).where(Job.owner_id == user.id))
            images = await _count(
                session,
                select(func.count(Image.id))
                .join(Job, Image.job_id == Job.id)
                .where(Job.owner_id == user.id),
            )
            events = await _count(
                session, select(func.count(Event.id)).where(Event.user_id == user.id)
            )
            return Summary(user.consent, jobs=jobs, images=images, events=events)

    async def set_consent(self, actor: Actor, opted_in: bool) -> Consent:
        """Opt in to (or out of) dataset export; blocked people keep this say too."""
        consent = Consent.OPTED_IN if opted_in else Consent.OPTED_OUT
        async with self._database.sessions.begin() as session:
            changed = await session.execute(
                update(User).where(identifies(actor)).values(consent=consent)
            )
            if not rows_changed(changed):
                user = await get_or_create_user(session, actor)
                user.consent = consent
        return consent

    async def download(self, actor: Actor, size_limit: int | None = None) -> Download:
        """A zip of ``pickloop-data.json`` and the person's image files (PNG).

        With ``size_limit`` (bytes), the image files are left out when the zip would weigh more.
        """
        async with self._database.sessions() as session:
            user = await find_user(session, actor)
            record = await _record_of(session, user) if user is not None else _empty_record()
        files: dict[str, str] = record.pop("_files")
        return await asyncio.to_thread(self._zip, record, files, size_limit)

    async def delete(self, actor: Actor) -> Deleted:
        """Delete the person's row (their jobs, images and events go with it) and then the image
        files no remaining row names. Refused while one of their jobs is being made; queued
        ones are deleted with the rest."""
        async with self._database.sessions.begin() as session:
            # A write first, for the locks: no runner can start one of the person's queued jobs
            # between the check below and the delete (it finds the job gone and lets it be).
            await session.execute(
                update(Job)
                .where(
                    Job.owner_id.in_(select(User.id).where(identifies(actor))),
                    Job.status == JobStatus.QUEUED,
                )
                .values(status=JobStatus.CANCELLED)
            )
            user = await find_user(session, actor)
            if user is None:
                return Deleted(jobs=0, images=0, events=0, files=0)
            busy = (
                await session.execute(
                    select(Job.public_id)
                    .where(Job.owner_id == user.id, Job.status == JobStatus.RUNNING)
                    # A lapsed claim: the worker is gone and the job is not being made.
                    .where(Job.lease_expires_at > utcnow())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if busy is not None:
                raise UserError(
                    f"Your job `{busy}` is being made right now; nothing was deleted. "
                    "Ask again once it is done."
                )
            grids = (
                await session.execute(select(Job.grid_sha256).where(Job.owner_id == user.id))
            ).scalars()
            job_count = 0
            shas: set[str] = set()
            for grid in grids:
                job_count += 1
                if grid is not None:
                    shas.add(grid)
            image_shas = list(
                (
                    await session.execute(
                        select(Image.sha256)
                        .join(Job, Image.job_id == Job.id)
                        .where(Job.owner_id == user.id)
                    )
                ).scalars()
            )
            shas.update(image_shas)
            # The pictures they gave as image prompts are theirs too.
            shas.update(
                (
                    await session.execute(
                        select(ImagePrompt.sha256)
                        .join(Job, ImagePrompt.job_id == Job.id)
                        .where(Job.owner_id == user.id)
                    )
                ).scalars()
            )
            events = await _count(
                session, select(func.count(Event.id)).where(Event.user_id == user.id)
            )
            profile = await profile_by_key(session, personal_key(user.id))
            versions = await _profile_versions(session, profile) if profile is not None else []
            if profile is not None:
                await session.delete(profile)  # its rounds and share codes go with it
            if user.blocked:
                # A block outlives the data: the row stays, emptied, so that deleting one's
                # data is no way around it.
                await session.execute(delete(Event).where(Event.user_id == user.id))
                await session.execute(delete(Job).where(Job.owner_id == user.id))
                await session.execute(
                    update(User)
                    .where(User.id == user.id)
                    .values(display_name="", defaults={}, consent=Consent.OPTED_OUT)
                )
            else:
                await session.execute(delete(User).where(User.id == user.id))
            await _delete_unused(session, versions)
            unreferenced = shas - await _still_named(session, shas)
        removed = await asyncio.to_thread(self._remove_files, sorted(unreferenced))
        if profile is not None:
            # Its adapters go too: a version of it that drew someone else's pictures (through a
            # share code) keeps its row for those pictures, but can draw no more.
            folder = profile_folder(self._profiles_dir, profile.key)
            await asyncio.to_thread(shutil.rmtree, folder, True)
        return Deleted(
            jobs=job_count,
            images=len(image_shas),
            events=events,
            files=removed,
            profile=profile is not None,
        )

    def _remove_files(self, shas: Iterable[str]) -> int:
        return sum(self._store.delete(sha) for sha in shas)

    def _zip(
        self, record: dict[str, Any], files: dict[str, str], size_limit: int | None
    ) -> Download:
        estimate = len(_as_json(record))
        for sha in files.values():
            with contextlib.suppress(FileNotFoundError):
                estimate += self._store.path(sha).stat().st_size + _ZIP_ENTRY_OVERHEAD
        # Judged before any file is read: a big collection is not loaded only to be dropped.
        with_images = size_limit is None or estimate <= size_limit
        data = self._zip_bytes(record, files if with_images else {})
        if size_limit is not None and with_images and len(data) > size_limit:
            with_images, data = False, self._zip_bytes(record, {})
        return Download(data=data, images_included=with_images)

    def _zip_bytes(self, record: dict[str, Any], files: dict[str, str]) -> bytes:
        included: dict[str, bytes] = {}
        for name, sha in files.items():
            try:
                included[name] = self._store.read(sha)
            except ImageStoreError:
                continue  # gone or damaged on disk: the record still describes it
        record = dict(record, files_included=sorted(included))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(DATA_FILE, _as_json(record), compress_type=zipfile.ZIP_DEFLATED)
            for name, data in included.items():
                # PNGs are compressed already.
                archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
        return buffer.getvalue()


async def _profile_versions(session: AsyncSession, profile: Profile) -> list[int]:
    query = select(FlywheelRound.candidate_version_id).where(
        FlywheelRound.profile_id == profile.id, FlywheelRound.candidate_version_id.is_not(None)
    )
    return [version for version in (await session.execute(query)).scalars() if version]


async def _delete_unused(session: AsyncSession, versions: list[int]) -> None:
    """Delete the versions no job or picture names any more."""
    for version_id in versions:
        named = await session.scalar(
            select(func.count(Job.id)).where(Job.model_version_id == version_id)
        ) or await session.scalar(
            select(func.count(Image.id)).where(Image.model_version_id == version_id)
        )
        if not named:
            await session.execute(delete(ModelVersion).where(ModelVersion.id == version_id))


async def _mark_noticed(session: AsyncSession, actor: Actor) -> bool:
    result = await session.execute(
        update(User)
        .where(identifies(actor), User.privacy_notice_at.is_(None))
        .values(privacy_notice_at=utcnow())
    )
    return bool(rows_changed(result))


async def _count(session: AsyncSession, query: Any) -> int:
    return int((await session.execute(query)).scalar_one())


async def _still_named(session: AsyncSession, shas: set[str]) -> set[str]:
    """The hashes among ``shas`` that some image, grid or image prompt still names."""
    named: set[str] = set()
    ordered = sorted(shas)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        for column in (Image.sha256, ImagePrompt.sha256):
            named.update((await session.execute(select(column).where(column.in_(chunk)))).scalars())
        named.update(
            sha
            for sha in (
                await session.execute(select(Job.grid_sha256).where(Job.grid_sha256.in_(chunk)))
            ).scalars()
            if sha is not None
        )
    return named


def _empty_record() -> dict[str, Any]:
    return {
        "exported_at": _when(utcnow()),
        "person": None,
        "jobs": [],
        "images": [],
        "image_prompts": [],
        "events": [],
        "_files": {},
    }


async def _record_of(session: AsyncSession, user: User) -> dict[str, Any]:
    """The person's rows as plain JSON values, with public ids instead of internal ones, and the
    files to go with them (zip name -> sha256) under ``_files``."""
    parent_job = aliased(Job)
    parent_image = aliased(Image)
    job_rows = (
        await session.execute(
            select(Job, ModelVersion.name, parent_job.public_id, parent_image.public_id)
            .join(ModelVersion, Job.model_version_id == ModelVersion.id)
            .outerjoin(parent_job, Job.parent_job_id == parent_job.id)
            .outerjoin(parent_image, Job.parent_image_id == parent_image.id)
            .where(Job.owner_id == user.id)
            .order_by(Job.created_at, Job.id)
        )
    ).all()
    image_rows = (
        await session.execute(
            select(Image, Job.public_id)
            .join(Job, Image.job_id == Job.id)
            .where(Job.owner_id == user.id)
            .order_by(Job.created_at, Job.id, Image.position)
        )
    ).all()
    event_job = aliased(Job)
    result_job = aliased(Job)
    image = aliased(Image)
    other_image = aliased(Image)
    event_rows = (
        await session.execute(
            select(
                Event,
                event_job.public_id,
                image.public_id,
                other_image.public_id,
                result_job.public_id,
            )
            .join(event_job, Event.job_id == event_job.id)
            .outerjoin(image, Event.image_id == image.id)
            .outerjoin(other_image, Event.other_image_id == other_image.id)
            .outerjoin(result_job, Event.result_job_id == result_job.id)
            .where(Event.user_id == user.id)
            .order_by(Event.created_at, Event.id)
        )
    ).all()

    files: dict[str, str] = {}
    image_prompts = []
    for given, job_id in (
        await session.execute(
            select(ImagePrompt, Job.public_id)
            .join(Job, ImagePrompt.job_id == Job.id)
            .where(Job.owner_id == user.id)
            .order_by(Job.created_at, Job.id, ImagePrompt.position)
        )
    ).all():
        name = f"image-prompts/{job_id}-{given.position + 1}.png"
        files[name] = given.sha256
        image_prompts.append(
            {
                "job_id": job_id,
                "position": given.position,
                "sha256": given.sha256,
                "width": given.width,
                "height": given.height,
                "file": name,
            }
        )
    images = []
    image_shas: dict[str, set[str]] = {}
    for row, job_id in image_rows:
        name = f"images/{row.public_id}.png"
        files[name] = row.sha256
        image_shas.setdefault(job_id, set()).add(row.sha256)
        images.append(
            {
                "image_id": row.public_id,
                "job_id": job_id,
                "position": row.position,
                "seed": row.seed,
                "sha256": row.sha256,
                "width": row.width,
                "height": row.height,
                "created_at": _when(row.created_at),
                "file": name,
            }
        )
    jobs = []
    for job, model, parent_job_id, parent_image_id in job_rows:
        grid_file = None
        # A single image is its own grid; it is in the zip once.
        if job.grid_sha256 and job.grid_sha256 not in image_shas.get(job.public_id, set()):
            grid_file = f"grids/{job.public_id}.png"
            files[grid_file] = job.grid_sha256
        jobs.append(
            {
                "job_id": job.public_id,
                "kind": job.kind.value,
                "status": job.status.value,
                "prompt": job.prompt,
                "negative_prompt": job.negative_prompt,
                "parameters": job.parameters.stored(),
                "base_seed": job.base_seed,
                "model": model,
                "parent_job_id": parent_job_id,
                "parent_image_id": parent_image_id,
                "origin": job.origin.value,
                "error": job.error,
                "discord_guild_id": _text(job.discord_guild_id),
                "discord_channel_id": _text(job.discord_channel_id),
                "discord_message_id": _text(job.discord_message_id),
                "grid_sha256": job.grid_sha256,
                "grid_file": grid_file,
                "created_at": _when(job.created_at),
                "started_at": _when(job.started_at),
                "finished_at": _when(job.finished_at),
            }
        )
    events = [
        {
            "kind": event.kind.value,
            "job_id": job_id,
            "image_id": image_id,
            "other_image_id": other_image_id,
            "position": event.position,
            "other_position": event.other_position,
            "result_job_id": result_job_id,
            "origin": event.origin.value,
            "detail": event.detail,
            "created_at": _when(event.created_at),
        }
        for event, job_id, image_id, other_image_id, result_job_id in event_rows
    ]
    return {
        "exported_at": _when(utcnow()),
        "person": {
            # Discord ids are strings, as Discord writes them: they overflow JavaScript numbers.
            "discord_id": _text(user.discord_id),
            "local_name": user.local_name,
            "display_name": user.display_name,
            "consent": user.consent.value,
            "blocked": user.blocked,
            "defaults": user.defaults,
            "created_at": _when(user.created_at),
            "privacy_notice_at": _when(user.privacy_notice_at),
        },
        "jobs": jobs,
        "images": images,
        "image_prompts": image_prompts,
        "events": events,
        "_files": files,
    }


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _text(number: int | None) -> str | None:
    return str(number) if number is not None else None


def _as_json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, indent=2, ensure_ascii=False).encode()
