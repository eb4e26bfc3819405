"""The flywheel, driven by what people did: a person's profile trains once they gave enough
signals, its candidate is compared blind in their own grids and judged by their votes alone.

Each test trains adapters; the ones that only add clicks and decisions on top of what the first
tests check on both databases run on SQLite alone, to keep the suite's time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import update

from bot.config import Settings
from bot.core.actor import Actor
from bot.core.app import App, open_app
from bot.core.errors import NotFound, UserError
from bot.core.jobs.service import model_version_name
from bot.core.loop.flywheel import Flywheel
from bot.core.loop.history import RoundView, history, rollback
from bot.core.models.registry import ModelRegistry
from bot.core.people.rating import Choice
from engine import LocalEngine, ScoreRequest
from storage.models import FlywheelRound, utcnow
from tests.bot.conftest import make_settings

ANN, BOB = Actor.local("ann"), Actor.local("bob")
PROMPT = "a red circle --steps 2"


@pytest.fixture
def flywheel_settings(tmp_path: Path, database_url: str, tiny_model_dir: Path) -> Settings:
    return make_settings(
        tmp_path / "data",
        database_url,
        tiny_model_dir,
        profile_min_signals=3,
        flywheel_min_new_signals=1000,
        flywheel_train_steps=2,
        flywheel_min_votes=6,
        flywheel_share=1.0,
    )


@pytest.fixture
async def app(flywheel_settings: Settings, local_engine: LocalEngine) -> AsyncIterator[App]:
    async with open_app(flywheel_settings, engine=local_engine) as opened:
        yield opened


async def grid(app: App, actor: Actor, text: str = PROMPT) -> str:
    queued = await app.service.imagine(actor, text)
    await app.runner.run(queued.job_id)
    return queued.job_id


async def upscale_click(app: App, actor: Actor, job_id: str, index: int) -> None:
    """A U-click: the signal is recorded at once (its upscale is left unrun)."""
    await app.service.upscale(actor, job_id, index)


async def turn_until(app: App, profile: str, status: str) -> RoundView:
    """Turn the flywheel, running the jobs it queues, until the profile's newest round reaches
    ``status``."""
    flywheel = Flywheel(app)
    for _ in range(6):
        await flywheel.turn()
        [latest, *_] = await history(app.database, profile)
        if latest.status == status:
            return latest
        for job in (latest.export_job, latest.fine_tune_job):
            if job is not None and (await app.service.show(job)).status == "queued":
                await app.runner.run(job)
    raise AssertionError(f"the round is {latest.status}, not {status}")


async def test_a_profile_trains_once_its_owner_has_enough_signals_and_not_before(
    app: App,
) -> None:
    first = await grid(app, ANN)
    await upscale_click(app, ANN, first, 1)
    await upscale_click(app, ANN, first, 2)
    assert await Flywheel(app).turn() == []  # two signals of three
    with pytest.raises(UserError, match="no profile yet"):
        await app.service.imagine(ANN, "a red circle --p")

    await upscale_click(app, ANN, await grid(app, ANN), 4)
    started = await turn_until(app, "ann", "exporting")
    base = model_version_name(app.settings.model)
    assert (started.profile, started.signals, started.baseline) == ("ann", 3, base)
    collecting = await turn_until(app, "ann", "collecting")
    assert collecting.candidate is not None and collecting.export_fingerprint is not None

    # Her grids now compare the candidate blind with what she drew with; bob's do not.
    hers = await app.service.show(await grid(app, ANN), reveal=True)
    assert sorted(image.model for image in hers.images) == sorted(
        [collecting.candidate] * 2 + [base] * 2
    )
    his = await app.service.show(await grid(app, BOB), reveal=True)
    assert {image.model for image in his.images} == {base}
    # No one else may draw with her candidate by name.
    with pytest.raises(NotFound):
        await app.service.imagine(BOB, f"a red circle --model {collecting.candidate}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_with_dpo_a_profile_learns_from_rate_answers_alone(
    flywheel_settings: Settings, local_engine: LocalEngine
) -> None:
    """Someone who only answers /rate: no picture of a grid liked (KTO would have nothing to
    learn from), but three preference pairs, which a DPO round trains her candidate on."""
    settings = flywheel_settings.model_copy(update={"flywheel_method": "dpo"})
    async with open_app(settings, engine=local_engine) as app:
        await grid(app, BOB)
        await grid(app, BOB, "a red circle --steps 2 --seed 7")
        for _ in range(3):
            pair = await app.rating.next_pair(ANN)
            assert pair is not None
            await app.rating.record(ANN, pair.left.id, pair.right.id, Choice.LEFT)

        collecting = await turn_until(app, "ann", "collecting")

        assert collecting.export_job is not None and collecting.fine_tune_job is not None
        export = await app.service.show(collecting.export_job)
        assert export.outcome is not None
        assert (export.outcome["format"], export.outcome["rows"]) == ("pairs", 3)
        fine_tune = (await app.service.show(collecting.fine_tune_job)).parameters.fine_tune
        assert fine_tune is not None and fine_tune.training["method"] == "dpo"
        assert collecting.candidate is not None


async def trained_candidate(app: App) -> RoundView:
    """Ann's three signals, and her profile's first candidate collecting votes."""
    first = await grid(app, ANN)
    for index in (1, 2, 3):
        await upscale_click(app, ANN, first, index)
    return await turn_until(app, "ann", "collecting")


async def blind_votes(
    app: App, actor: Actor, candidate: str, *, wins: int, losses: int, clicker: Actor | None = None
) -> None:
    """In ``wins`` of ``actor``'s blind grids a candidate's picture is U-clicked (by ``clicker``,
    or by ``actor``), in ``losses`` the other version's."""
    for n in range(wins + losses):
        shown = await app.service.show(await grid(app, actor), reveal=True)
        chosen = [image for image in shown.images if (image.model == candidate) == (n < wins)]
        await upscale_click(app, clicker or actor, shown.job_id, chosen[0].index)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_candidate_is_promoted_retired_or_kept_collecting_by_its_owners_votes(
    app: App,
) -> None:
    collecting = await trained_candidate(app)
    candidate = collecting.candidate
    assert candidate is not None
    # Only her own votes count: Bob's U-clicks on her blind grids (people click on each
    # other's grids in Discord) do not. Three each way: undecided.
    await blind_votes(app, ANN, candidate, wins=3, losses=3)
    await blind_votes(app, ANN, candidate, wins=0, losses=8, clicker=BOB)
    await Flywheel(app).turn()
    [kept] = await history(app.database, "ann")
    assert (kept.status, kept.votes.wins, kept.votes.losses) == ("collecting", 3, 3)

    await blind_votes(app, ANN, candidate, wins=14, losses=0)
    await Flywheel(app).turn()
    [promoted] = await history(app.database, "ann")
    assert promoted.status == "promoted" and promoted.interval is not None
    assert promoted.interval[0] > 0.5 and promoted.votes.wins == 17

    mine = await app.service.show(
        (await app.service.imagine(ANN, "a red circle --p")).job_id, reveal=True
    )
    assert (await app.service.show(mine.job_id, reveal=True)).model == candidate
    code = await app.profiles.share(ANN)
    shared = await app.service.imagine(BOB, f"a red circle --p {code}")
    assert (await app.service.show(shared.job_id, reveal=True)).model == candidate
    await app.profiles.revoke(ANN, code)
    with pytest.raises(NotFound, match="share code"):
        await app.service.imagine(BOB, f"a red circle --p {code}")
    with pytest.raises(NotFound):
        await app.profiles.revoke(BOB, code)  # not his to revoke, and revoked already
    with pytest.raises(UserError, match="community profile"):
        await app.service.imagine(BOB, "a red circle --p server")

    rolled = await rollback(app.database, "ann")
    assert rolled.status == "rolled_back"
    with pytest.raises(UserError, match="no profile yet"):
        await app.service.imagine(ANN, "a red circle --p")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_candidate_its_owner_passes_over_is_retired(app: App) -> None:
    collecting = await trained_candidate(app)
    assert collecting.candidate is not None
    await blind_votes(app, ANN, collecting.candidate, wins=0, losses=6)
    await Flywheel(app).turn()
    [retired] = await history(app.database, "ann")
    assert retired.status == "retired" and "of 6 votes" in (retired.reason or "")
    # Retired, it is compared no more.
    shown = await app.service.show(await grid(app, ANN), reveal=True)
    assert collecting.candidate not in {image.model for image in shown.images}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_deleting_ones_data_deletes_ones_profile(app: App) -> None:
    collecting = await trained_candidate(app)
    assert collecting.candidate is not None
    await blind_votes(app, ANN, collecting.candidate, wins=6, losses=0)
    await Flywheel(app).turn()
    code = await app.profiles.share(ANN)
    shared = await app.service.imagine(BOB, f"a red circle --p {code}")
    await app.runner.run(shared.job_id)
    folder = app.settings.profiles_dir / "user-1"
    assert (folder.is_dir(), (await app.profiles.status(ANN)).trained) == (True, True)

    deleted = await app.privacy.delete(ANN)

    assert deleted.profile and not folder.exists()
    with pytest.raises(NotFound, match="share code"):
        await app.service.imagine(BOB, f"a red circle --p {code}")
    assert await history(app.database) == [
        view for view in await history(app.database) if view.profile == "server"
    ]
    # Bob's grid drawn with her profile stays his, but her adapter is gone: it draws no more.
    assert (await app.service.show(shared.job_id)).status == "done"
    varied = await app.service.vary(BOB, shared.job_id, 1, strong=False)
    assert await app.runner.run(varied.job_id) == "failed"
    assert "adapter was deleted" in ((await app.service.show(varied.job_id)).error or "")


async def test_rate_offers_the_candidate_under_test_against_what_it_would_replace(
    app: App,
) -> None:
    collecting = await trained_candidate(app)
    await grid(app, ANN)  # a blind grid: two pictures of each
    await grid(app, BOB, "a blue square --steps 2")

    pair = await app.rating.next_pair(ANN)

    assert pair is not None
    versions = {
        image.id: image.model
        for job in await app.service.list_jobs(None, 50)
        for image in (await app.service.show(job.job_id, reveal=True)).images
    }
    base = model_version_name(app.settings.model)
    assert {versions[pair.left.id], versions[pair.right.id]} == {collecting.candidate, base}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_with_a_profile_rate_offers_the_pair_it_is_least_sure_between(app: App) -> None:
    collecting = await trained_candidate(app)
    assert collecting.candidate is not None
    await blind_votes(app, ANN, collecting.candidate, wins=6, losses=0)
    await Flywheel(app).turn()
    bobs = await app.service.show(await grid(app, BOB, "a green star --steps 2"))
    others = await app.service.show(await grid(app, BOB, "a green star --steps 2 --seed 5"))
    pictures = [*bobs.images, *others.images]
    version = next(
        v for v in await ModelRegistry(app.database).list() if v.name == collecting.candidate
    )
    assert version.adapter is not None

    # Every prompt Ann rated so far is used up but Bob's green stars: they come next.
    while (pair := await app.rating.next_pair(ANN)) is not None and pair.prompt != "a green star":
        await app.rating.record(ANN, pair.left.id, pair.right.id, Choice.SKIP)
    assert pair is not None
    scores = await app.engine.preference_scores(
        ScoreRequest(
            model=version.base_model,
            adapter=version.adapter,
            prompt="a green star",
            images=tuple(PILImage.open(image.path).convert("RGB") for image in pictures),
        )
    )
    gap = {
        frozenset((a.id, b.id)): abs(scores[i] - scores[j])
        for i, a in enumerate(pictures)
        for j, b in enumerate(pictures)
        if i < j and a.sha256 != b.sha256
    }
    assert gap[frozenset((pair.left.id, pair.right.id))] == min(gap.values())


@pytest.fixture
async def server_app(
    tmp_path: Path, database_url: str, tiny_model_dir: Path, local_engine: LocalEngine
) -> AsyncIterator[App]:
    """No personal profiles here: the server's first round starts at three signals."""
    settings = make_settings(
        tmp_path / "server-data",
        database_url,
        tiny_model_dir,
        profile_min_signals=1000,
        flywheel_min_new_signals=3,
        flywheel_train_steps=2,
        flywheel_min_votes=4,
        flywheel_share=1.0,
    )
    async with open_app(settings, engine=local_engine) as opened:
        yield opened


async def test_the_servers_profile_is_judged_by_everyone_and_serves_once_promoted(
    server_app: App,
) -> None:
    app = server_app
    first = await grid(app, ANN)
    for index, who in ((1, ANN), (2, BOB), (3, BOB)):
        await upscale_click(app, who, first, index)
    collecting = await turn_until(app, "server", "collecting")
    assert collecting.candidate is not None
    # Everyone's votes count: two of Ann's and two of Bob's.
    await blind_votes(app, ANN, collecting.candidate, wins=2, losses=0)
    await blind_votes(app, BOB, collecting.candidate, wins=2, losses=0)
    await Flywheel(app).turn()
    [promoted] = [r for r in await history(app.database, "server") if r.id == collecting.id]
    assert (promoted.status, promoted.votes.wins) == ("promoted", 4)

    plain = await app.service.show(await grid(app, BOB), reveal=True)
    assert {image.model for image in plain.images} == {collecting.candidate}
    server = await app.service.imagine(ANN, "a red circle --p server")
    assert (await app.service.show(server.job_id, reveal=True)).model == collecting.candidate

    await rollback(app.database, "server")
    base = model_version_name(app.settings.model)
    again = await app.service.show(await grid(app, BOB), reveal=True)
    assert {image.model for image in again.images} == {base}


async def test_a_failed_round_says_why_and_the_servers_schedule_starts_the_next(
    server_app: App,
) -> None:
    hourly = server_app.settings.model_copy(update={"flywheel_every_hours": 1.0})
    async with open_app(hourly, engine=server_app.engine) as opened:
        first = await grid(opened, ANN)
        for index in (1, 2, 3):
            await upscale_click(opened, ANN, first, index)
        started = await turn_until(opened, "server", "exporting")
        assert started.export_job is not None
        # An admin cancels its export: the round fails with why, and waits for new signals.
        await opened.moderation.cancel(ANN, started.export_job, manages_server=True)
        failed = await turn_until(opened, "server", "failed")
        assert failed.reason
        await upscale_click(opened, BOB, first, 4)  # one more: fewer than three new
        assert await Flywheel(opened).turn() == []

        # An hour after the last round, any new signal starts the next one.
        async with opened.database.sessions.begin() as session:
            await session.execute(
                update(FlywheelRound).values(created_at=utcnow() - timedelta(hours=2))
            )
        [happened] = await Flywheel(opened).turn()
        assert (happened.profile, happened.what) == ("server", "started")
