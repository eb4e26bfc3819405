"""Per-person defaults: what /settings keeps, and what a plain prompt then gets."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App
from bot.core.errors import PermissionDenied, UserError
from bot.core.people.defaults import Change, Defaults


async def test_defaults_shape_a_plain_prompt_and_the_prompt_still_wins(
    app: App, alice: Actor, bob: Actor
) -> None:
    await app.preferences.change(
        alice, Change(aspect="16:9", steps=5, guidance=4.5, negative_suffix="blurry,  text")
    )

    plain = await app.service.imagine(alice, "a lighthouse")
    assert plain.parameters.aspect == "16:9"
    assert plain.parameters.width > plain.parameters.height
    assert plain.parameters.steps == 5
    assert plain.parameters.guidance == 4.5
    assert plain.negative_prompt == "blurry, text"

    typed = await app.service.imagine(alice, "a lighthouse --ar 1:1 --steps 2 --cfg 3 --no fog")
    assert typed.parameters.aspect == "1:1"
    assert typed.parameters.steps == 2
    assert typed.parameters.guidance == 3.0
    assert typed.negative_prompt == "fog, blurry, text"

    # Someone else's prompts are not touched.
    other = await app.service.imagine(bob, "a lighthouse")
    assert other.parameters.steps == app.settings.default_steps
    assert other.negative_prompt == ""


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (Change(aspect="16x9"), "W:H"),
        (Change(aspect="9:1"), "1:4 to 4:1"),
        (Change(aspect="16:9 --seed 3"), "one value"),
        (Change(steps=0), "from 1 to 60"),
        (Change(steps=61), "from 1 to 60"),
        (Change(guidance=-1.0), "from 0 to 30"),
        (Change(guidance=31.0), "from 0 to 30"),
        (Change(negative_suffix="fog --seed 4"), "other --parameters"),
        (Change(negative_suffix="x" * 501), "at most 500"),
    ],
)
async def test_a_value_a_prompt_would_refuse_is_refused_and_nothing_changes(
    app: App, alice: Actor, change: Change, says: str
) -> None:
    before = await app.preferences.change(alice, Change(aspect="2:3", steps=7))

    # One good value beside the bad one: all or nothing.
    with pytest.raises(UserError, match=says):
        await app.preferences.change(alice, Change(**{**change.__dict__, "private": True}))

    assert await app.preferences.current(alice) == before


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"banned_words": ["ogre"]})


async def test_banned_words_are_refused_in_the_negative_suffix(app: App, alice: Actor) -> None:
    with pytest.raises(UserError, match="isn't allowed"):
        await app.preferences.change(alice, Change(negative_suffix="an OGRE"))
    assert await app.preferences.current(alice) == Defaults()


async def test_reset_goes_back_to_the_server_defaults_and_private_is_remembered(
    app: App, alice: Actor
) -> None:
    discord_person = Actor.discord(123_456, "dana")
    await app.preferences.change(discord_person, Change(private=True, steps=4))
    await app.preferences.change(alice, Change(private=True))  # not a Discord account
    assert await app.preferences.private_discord_ids() == {123_456}

    shown = await app.preferences.change(discord_person, Change(reset=True, aspect="3:2"))

    assert shown == Defaults(aspect="3:2")
    assert await app.preferences.private_discord_ids() == set()
    assert (await app.service.imagine(discord_person, "x")).parameters.steps == (
        app.settings.default_steps
    )


async def test_blocked_people_cannot_change_their_defaults(app: App, alice: Actor) -> None:
    await app.moderation.block(Actor.discord(1, "mod"), alice, manages_server=True)
    with pytest.raises(PermissionDenied):
        await app.preferences.change(alice, Change(steps=3))
