"""Banned words: whole words in any case, refused by the service before anything is written."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App
from bot.core.errors import UserError
from bot.core.jobs.edits import EditRequest
from bot.core.moderation.banned_words import BannedWord, BannedWords

WORDS = BannedWords(["ogre", "Forbidden Fruit"])


@pytest.mark.parametrize(
    "prompt",
    ["an ogre", "AN OGRE!", "ogre's hut", "the forbidden  fruit --ar 1:1", "a cat --no ogre"],
)
def test_a_banned_word_or_phrase_is_found_in_any_case(prompt: str) -> None:
    assert WORDS.found_in(prompt) is not None
    with pytest.raises(BannedWord):
        WORDS.check(prompt)


@pytest.mark.parametrize("prompt", ["ogres", "a programme", "fruit that is forbidden", ""])
def test_parts_of_other_words_are_not_banned(prompt: str) -> None:
    assert WORDS.found_in(prompt) is None
    WORDS.check(prompt)


def test_the_refusal_names_the_word_used_not_the_list() -> None:
    with pytest.raises(BannedWord) as refused:
        WORDS.check("an Ogre at dawn")
    message = str(refused.value)
    assert "Ogre" in message and "isn't allowed here" in message
    assert "Forbidden" not in message


def test_no_words_bans_nothing() -> None:
    assert BannedWords([]).found_in("anything at all") is None
    assert BannedWords(["", "  "]).found_in("anything at all") is None


@pytest.mark.parametrize(
    "raw", ['["ogre", "forbidden fruit"]', "ogre, forbidden fruit", " ogre ,forbidden fruit,"]
)
def test_the_setting_reads_a_json_list_or_commas(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICKLOOP_BANNED_WORDS", raw)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.banned_words == ["ogre", "forbidden fruit"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"banned_words": ["ogre"]})


async def test_the_service_refuses_before_writing(app: App, alice: Actor) -> None:
    with pytest.raises(BannedWord):
        await app.service.imagine(alice, "an ogre in the woods")
    assert await app.service.list_jobs(None) == []
    allowed = await app.service.imagine(alice, "a troll in the woods")
    assert allowed.status == "queued"


async def test_a_new_prompt_for_an_edit_is_held_to_the_same_words(app: App, alice: Actor) -> None:
    grid = await app.service.imagine(alice, "a troll in the woods")
    await app.runner.run(grid.job_id)

    with pytest.raises(BannedWord):
        await app.service.edit(
            alice, grid.job_id, 1, EditRequest("zoom_out", zoom=2.0, prompt="an ogre")
        )
    with pytest.raises(UserError, match="no --parameters"):
        await app.service.edit(
            alice, grid.job_id, 1, EditRequest("pan", direction="left", prompt="a troll --seed 3")
        )
    assert [job.job_id for job in await app.service.list_jobs(None)] == [grid.job_id]
