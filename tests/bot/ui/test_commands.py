"""Registering the slash commands with Discord: to one server or globally, and only when changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.app import open_app
from bot.ui import PickloopBot
from engine import LocalEngine
from tests.bot.conftest import make_settings
from tests.bot.ui.harness import APPLICATION_ID, GUILD_ID, FakeDiscord


@pytest.mark.parametrize(
    ("guild", "where"),
    [
        (None, f"/applications/{APPLICATION_ID}/commands"),
        (GUILD_ID, f"/applications/{APPLICATION_ID}/guilds/{GUILD_ID}/commands"),
    ],
)
async def test_commands_are_registered_once_until_they_change(
    guild: int | None,
    where: str,
    tmp_path: Path,
    database_url: str,
    tiny_model_dir: Path,
    local_engine: LocalEngine,
    fake_discord: FakeDiscord,
) -> None:
    settings = make_settings(tmp_path / "data", database_url, tiny_model_dir, discord_guild=guild)
    async with open_app(settings, engine=local_engine) as app:
        for _restart in range(3):
            async with PickloopBot(app) as bot:
                await bot.login("test-token")

    registered = [call for call in fake_discord.calls if call.method == "PUT"]
    assert [call.path for call in registered] == [where]
    commands = {command["name"]: command for command in registered[0].json}
    assert sorted(commands) == [
        "admin",
        "blend",
        "imagine",
        "info",
        "privacy",
        "profile",
        "rate",
        "settings",
        "show",
    ]
    imagine = commands["imagine"]["options"]
    assert [(option["name"], option.get("required", False)) for option in imagine] == [
        ("prompt", True),
        ("image", False),
    ]
    assert imagine[1]["type"] == 11  # an attachment, as Discord hands files to commands
    blend = commands["blend"]["options"]
    assert [option["name"] for option in blend if option.get("required")] == ["image1", "image2"]
    assert [option["name"] for option in blend if not option.get("required")] == [
        "image3",
        "image4",
        "image5",
        "prompt",
    ]
    assert [option["name"] for option in commands["show"]["options"]] == ["job_id"]
    assert [option["name"] for option in commands["profile"]["options"]] == [
        "show",
        "share",
        "revoke",
    ]
