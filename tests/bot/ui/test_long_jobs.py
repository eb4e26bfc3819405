"""Jobs that take a while: progress shown on the way, and a result after the token expired."""

from __future__ import annotations

import pytest

from tests.bot.ui.conftest import StartBot
from tests.bot.ui.harness import CHANNEL_ID, FakeDiscord, Person
from tests.bot.ui.test_imagine import grid_posted

ALICE = Person(400_000_000_000_000_001, "alice")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # Every step may be shown: the tiny model finishes in well under the usual interval.
    return {"discord_progress_seconds": 0}


async def test_progress_is_shown_before_the_grid_replaces_it(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="a red circle --steps 8")

    await fake_discord.wait_for(lambda: grid_posted(fake_discord, sent.token))

    edits = [call for call in fake_discord.calls_for(sent.token) if call.method == "PATCH"]
    progress, final = edits[:-1], edits[-1]
    assert progress, "no progress was shown"
    assert all("% (step " in call.json["content"] for call in progress)
    assert all(not call.files for call in progress)
    assert final.files and len(final.custom_ids) == 9


async def test_a_result_after_the_token_expired_is_posted_with_the_bot_token(
    start_bot: StartBot, fake_discord: FakeDiscord
) -> None:
    fake_discord.tokens_expire_at_once = True
    gateway = await start_bot()
    sent = gateway.slash(ALICE, "imagine", prompt="a blue square")

    def posted() -> object:
        return next(
            (
                call
                for call in fake_discord.calls
                if call.method == "POST" and call.path == f"/channels/{CHANNEL_ID}/messages"
            ),
            None,
        )

    message = await fake_discord.wait_for(posted)

    assert len(message.files) == 1
    assert len(message.custom_ids) == 9
    assert "a blue square" in message.json["content"]
    # It tried the interaction's own message first, which Discord refused.
    assert any(call.method == "PATCH" for call in fake_discord.calls_for(sent.token))
