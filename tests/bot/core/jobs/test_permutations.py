"""Permutation prompts and --repeat: which prompts a prompt stands for, and the jobs made of
them through the job service (confirmation above a threshold, queue places for all)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.actor import Actor
from bot.core.app import App, open_app
from bot.core.errors import ConfirmationNeeded, UserError
from bot.core.jobs.permutations import expand
from bot.core.jobs.prompt import PromptError
from engine import LocalEngine
from storage.models import Job
from tests.bot.conftest import make_settings


def test_options_expand_left_to_right_with_each_repeated() -> None:
    assert expand("a {red, blue} {circle,star} --ar 1:1 --repeat 2", 16) == [
        "a red circle --ar 1:1 ",
        "a red circle --ar 1:1 ",
        "a red star --ar 1:1 ",
        "a red star --ar 1:1 ",
        "a blue circle --ar 1:1 ",
        "a blue circle --ar 1:1 ",
        "a blue star --ar 1:1 ",
        "a blue star --ar 1:1 ",
    ]
    assert expand("a {large {red, blue}, small} star", 16) == [
        "a large red star",
        "a large blue star",
        "a small star",
    ]
    assert expand("a star --ar {1:1, 16:9}", 16) == ["a star --ar 1:1", "a star --ar 16:9"]
    assert expand("a plain star", 16) == ["a plain star"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a {red, blue circle", "braces"),
        ("a red} circle", "braces"),
        ("a {a,b,c} {d,e,f} star", "more than 8 grids"),
        ("a star --repeat 9", "from 1 to 8"),
        ("a star --repeat 0", "from 1 to 8"),
        ("a star --repeat", "from 1 to 8"),
        ("a star --repeat 2 --r 2", "twice"),
        ("a {red, blue} star --repeat 5", "more than 8 grids"),
    ],
)
def test_what_cannot_be_expanded_is_refused_with_why(text: str, said: str) -> None:
    with pytest.raises(PromptError, match=said):
        expand(text, 8)


async def count_jobs(app: App) -> int:
    async with app.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Job)) or 0)


async def test_a_permutation_prompt_makes_one_job_per_prompt(app: App, alice: Actor) -> None:
    made = await app.service.imagine_all(alice, "a {red, blue} circle --seed 3 --repeat 2")

    assert [job.prompt for job in made] == ["a red circle"] * 2 + ["a blue circle"] * 2
    assert len({job.job_id for job in made}) == 4
    assert await count_jobs(app) == 4


async def test_many_grids_wait_for_a_confirmation_and_bad_ones_change_nothing(
    app: App, alice: Actor
) -> None:
    with pytest.raises(ConfirmationNeeded) as asked:
        await app.service.imagine_all(alice, "a {red, blue, green} {circle, star}")
    # One bad prompt among them: none is made.
    with pytest.raises(UserError, match="--steps"):
        await app.service.imagine_all(alice, "a red circle --steps {10, 999}")
    assert asked.value.jobs == 6
    assert await count_jobs(app) == 0

    made = await app.service.imagine_all(
        alice, "a {red, blue, green} {circle, star}", confirmed=True
    )
    assert len(made) == 6


async def test_a_person_on_discord_gets_all_or_none_of_a_set(
    tmp_path: Path, database_url: str, tiny_model_dir: Path, local_engine: LocalEngine
) -> None:
    settings = make_settings(tmp_path / "data", database_url, tiny_model_dir, queue_per_person=2)
    carol = Actor.discord(77, "carol")
    async with open_app(settings, engine=local_engine, run_own_jobs=False) as app:
        # With nothing of hers waiting, a set larger than her places is taken whole.
        assert len(await app.service.imagine_all(carol, "a {red, blue, green} star")) == 3
        # Now her places are full: a new set is refused before any of it is queued.
        with pytest.raises(UserError, match="jobs in the queue"):
            await app.service.imagine_all(carol, "a {red, blue} circle")
        assert await count_jobs(app) == 3
