from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App, open_app
from engine import LocalEngine


def make_settings(
    data_dir: Path, database_url: str, model_dir: Path, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "model": str(model_dir),
        "default_steps": 3,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, tiny_model_dir: Path) -> Settings:
    return make_settings(tmp_path / "data", database_url, tiny_model_dir)


@pytest.fixture
async def app(settings: Settings, local_engine: LocalEngine) -> AsyncIterator[App]:
    async with open_app(settings, engine=local_engine) as opened:
        yield opened


@pytest.fixture
def alice() -> Actor:
    return Actor.local("alice")


@pytest.fixture
def bob() -> Actor:
    return Actor.local("bob")
