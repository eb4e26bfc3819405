"""Model versions: a base model, optionally with a LoRA adapter, and which of them serve.

An adapter is registered with the SHA-256 of its weights, so a version always names the exact
weights that drew its pictures; a folder whose weights changed afterwards is refused when it
would be used. New grids are drawn by the serving version, or, when two serve, by both in a blind
comparison (`/imagine --model NAME` still picks any version by name).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import NotFound, UserError
from engine.adapters import WEIGHTS
from storage.db import Database
from storage.labels.versions import VersionReport, version_report
from storage.models import Image, ModelVersion

NAME_LIMIT = 100


@dataclass(frozen=True)
class VersionView:
    name: str
    base_model: str
    adapter: str | None
    adapter_sha256: str | None
    serving: bool
    share: float
    created_at: datetime
    images: int


def adapter_digest(folder: Path) -> str:
    """The SHA-256 of an adapter folder's weights; UserError if it holds none."""
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise UserError(f"{folder} is not a LoRA adapter folder (it has no {WEIGHTS})")
    found = weights.stat()
    return _file_digest(weights, found.st_size, found.st_mtime_ns)


@lru_cache(maxsize=64)
def _file_digest(path: Path, size: int, modified_ns: int) -> str:
    # Keyed by size and modification time as well: every job of a tuned version checks its
    # adapter, and the weights are read again only when the file was written since.
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_adapter(version: ModelVersion) -> str | None:
    """The version's adapter folder if its weights are still the registered ones."""
    if version.lora_path is None:
        return None
    if not Path(version.lora_path).exists():
        raise UserError(
            f"model version {version.name!r} can no longer draw: its adapter was deleted "
            "(a profile whose owner deleted their data, say)"
        )
    if adapter_digest(Path(version.lora_path)) != version.lora_sha256:
        raise UserError(
            f"the adapter of model version {version.name!r} ({version.lora_path}) changed since "
            "it was registered; register the new weights as a new version"
        )
    return version.lora_path


class ModelRegistry:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def list(self) -> list[VersionView]:
        async with self._database.sessions() as session:
            counts = dict(
                (
                    await session.execute(
                        select(Image.model_version_id, func.count(Image.id)).group_by(
                            Image.model_version_id
                        )
                    )
                ).all()
            )
            versions = (
                (await session.execute(select(ModelVersion).order_by(ModelVersion.id)))
                .scalars()
                .all()
            )
            return [_view(version, counts.get(version.id, 0)) for version in versions]

    async def add(self, name: str, base_model: str, adapter: Path | None) -> VersionView:
        """Register a version; refuses a taken or bad name and a folder that is no adapter."""
        name = name.strip()
        if not name or len(name) > NAME_LIMIT or any(c.isspace() for c in name):
            raise UserError(f"a version name is 1 to {NAME_LIMIT} characters, no spaces")
        folder, digest = None, None
        if adapter is not None:
            folder = await asyncio.to_thread(lambda: adapter.expanduser().resolve())
            digest = await asyncio.to_thread(adapter_digest, folder)
        async with self._database.sessions.begin() as session:
            taken = await session.execute(select(ModelVersion.id).where(ModelVersion.name == name))
            if taken.first() is not None:
                raise UserError(f"there is already a model version named {name!r}")
            version = ModelVersion(
                name=name,
                base_model=base_model,
                lora_path=str(folder) if folder is not None else None,
                lora_sha256=digest,
                serving=False,
                share=0.0,
            )
            session.add(version)
            await session.flush()
            return _view(version, 0)

    async def report(self) -> VersionReport:
        """Win rates between versions from direct votes, and each version's label rates."""
        return await version_report(self._database)

    async def serve(self, name: str, against: str | None = None) -> None:
        """Make `name` the one version that draws new grids; with `against`, compare the two
        blind: every new grid shows two pictures of each (see bot.core.jobs.comparison)."""
        if against is not None and against == name:
            raise UserError("a version cannot be compared with itself; name two versions")
        async with self._database.sessions.begin() as session:
            chosen = [await _named(session, name)]
            if against is not None:
                chosen.append(await _named(session, against))
            for version in chosen:
                await asyncio.to_thread(check_adapter, version)
            await serve_only(session, chosen)


async def serving_versions(session: AsyncSession) -> list[ModelVersion]:
    """The serving versions, the one new grids are filed under first."""
    query = (
        select(ModelVersion)
        .where(ModelVersion.serving)
        .order_by(ModelVersion.share.desc(), ModelVersion.id.desc())
    )
    return list((await session.execute(query)).scalars().all())


async def serve_only(session: AsyncSession, versions: list[ModelVersion]) -> None:
    """Make these versions (one, or two compared blind) the only ones drawing new grids."""
    await session.execute(update(ModelVersion).values(serving=False, share=0.0))
    for version in versions:
        version.serving, version.share = True, 1.0 / len(versions)


async def _named(session: AsyncSession, name: str) -> ModelVersion:
    version = (
        await session.execute(select(ModelVersion).where(ModelVersion.name == name))
    ).scalar_one_or_none()
    if version is None:
        known = (await session.execute(select(ModelVersion.name))).scalars().all()
        raise NotFound(f"Unknown model {name!r}. Available: {', '.join(sorted(known)) or 'none'}.")
    return version


def _view(version: ModelVersion, images: int) -> VersionView:
    return VersionView(
        name=version.name,
        base_model=version.base_model,
        adapter=version.lora_path,
        adapter_sha256=version.lora_sha256,
        serving=version.serving,
        share=version.share,
        created_at=version.created_at,
        images=images,
    )
