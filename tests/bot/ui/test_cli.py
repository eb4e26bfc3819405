"""``pickloop bot``: starting, and the one-line refusals when the token is missing or wrong."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.cli.test_cli import pickloop
from tests.bot.ui.harness import FakeDiscord


@pytest.fixture
def bot_env(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("PICKLOOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PICKLOOP_MODEL", str(tiny_model_dir))
    monkeypatch.delenv("PICKLOOP_DISCORD_TOKEN", raising=False)
    # `pickloop bot` sends the process's log to stderr, as a server should; here stderr is
    # pytest's capture, closed after this test, so later tests must not inherit the handler.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_without_a_token_it_says_which_variable_to_set(
    bot_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = pickloop(capsys, "bot")

    assert code == 2
    assert out == ""
    [line] = err.splitlines()
    assert "PICKLOOP_DISCORD_TOKEN is not set" in line


def test_a_rejected_token_ends_with_one_line(
    bot_env: None,
    fake_discord: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_discord.rejects_token = True
    monkeypatch.setenv("PICKLOOP_DISCORD_TOKEN", "not-a-real-token")

    code, out, err = pickloop(capsys, "bot")

    assert code == 1
    [line] = [line for line in err.splitlines() if line.startswith("pickloop:")]
    assert "Discord rejected PICKLOOP_DISCORD_TOKEN" in line
    assert "Traceback" not in err
    assert "not-a-real-token" not in err + out
    assert [call.path for call in fake_discord.calls] == ["/users/@me"]
