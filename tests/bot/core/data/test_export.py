"""Dataset export end to end: clicks through the job service → derived rows → a ``datasets``
folder → ``datasets.load_dataset`` and the Diffusion-DPO reader."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import datasets
import PIL.Image
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.data.exports import ExportHandler
from bot.core.people.rating import Choice
from storage.export import (
    FORMATS,
    Exclusions,
    ExportError,
    ExportOptions,
    ExportResult,
    MissingSecretError,
    Pseudonyms,
    SplitPlan,
    export_dataset,
    export_from_database,
    load_exclusions,
)
from storage.export.images import to_jpeg
from storage.export.splits import PROMPT_SPLITS, TIES, prompt_key
from storage.imagestore import ImageNotFoundError
from storage.labels.derive import labels_of, pairs_of
from storage.labels.load import iter_rankings
from storage.labels.rows import GridRanking, ImageLabel, PreferencePair
from storage.models import Job, JobKind, User
from storage.parameters import ExportRequest, JobParameters

SECRET = "test secret: long, random and kept between exports"
DORA_ID = 987654321098765432
DORA_NAME = "Dora Quintessa Display"
# Shares large enough that a handful of prompts reach every split; which prompt goes where
# follows from the prompt alone (checked in test_the_prompts_of_this_history_cover_every_split).
PLAN = SplitPlan(validation=0.25, test=0.25)
TRAIN_PROMPT, OTHER_TRAIN_PROMPT = "a red circle", "a purple moon"
VALIDATION_PROMPT, TEST_PROMPT = "a brown dog", "a blue square"
OPTED_OUT_PROMPT = "a grey cloud"

RowT = TypeVar("RowT")


@dataclass(frozen=True)
class History:
    pairs: list[PreferencePair]
    labels: list[ImageLabel]
    rankings: list[GridRanking]
    # Internal user ids by name.
    people: dict[str, int]
    exclusions: Exclusions


async def _grid(app: App, actor: Actor, prompt: str) -> str:
    queued = await app.service.imagine(actor, prompt)
    await app.runner.run(queued.job_id)
    return queued.job_id


async def make_history(app: App) -> History:
    """Real clicks by real people, some of whom may not be exported."""
    alice, bob = Actor.local("alice"), Actor.local("bob")
    carol, eve, frank = Actor.local("carol"), Actor.local("eve"), Actor.local("frank")
    dora = Actor.discord(DORA_ID, DORA_NAME)
    red = await _grid(app, alice, f"{TRAIN_PROMPT} --seed 1")
    dog = await _grid(app, alice, f"{VALIDATION_PROMPT} --seed 2")
    square = await _grid(app, alice, f"{TEST_PROMPT} --seed 3")
    moon = await _grid(app, alice, f"{OTHER_TRAIN_PROMPT} --seed 4")
    cloud = await _grid(app, frank, f"{OPTED_OUT_PROMPT} --seed 5")

    await app.service.upscale(bob, red, 2)
    await app.service.upscale(dora, red, 3)
    await app.service.upscale(dora, dog, 4)
    await app.service.upscale(bob, square, 1)
    await app.service.reroll(bob, moon)
    red_view = await app.service.show(red)
    await app.rating.record(bob, red_view.images[0].id, red_view.images[3].id, Choice.TIE)
    await app.rating.record(dora, red_view.images[0].id, red_view.images[1].id, Choice.RIGHT)
    # People who must never be exported: an opted-out clicker, a blocked one, and the
    # opted-out owner of a grid someone else clicked on.
    await app.service.upscale(carol, dog, 1)
    await app.service.upscale(eve, square, 2)
    await app.service.upscale(bob, cloud, 1)
    await app.privacy.set_consent(carol, opted_in=False)
    await app.privacy.set_consent(frank, opted_in=False)
    await app.moderation.block(alice, eve, manages_server=True)
    return await derive(app)


async def derive(app: App) -> History:
    rankings = [ranking async for ranking in iter_rankings(app.database)]
    async with app.database.sessions() as session:
        users = (await session.execute(select(User))).scalars().all()
    return History(
        pairs=[pair for ranking in rankings for pair in pairs_of(ranking)],
        labels=[label for ranking in rankings for label in labels_of(ranking)],
        rankings=rankings,
        people={user.local_name or str(user.discord_id): user.id for user in users},
        exclusions=await load_exclusions(app.database),
    )


def source_of(rows: Iterable[RowT]) -> Callable[[], AsyncIterator[RowT]]:
    kept = list(rows)

    async def again() -> AsyncIterator[RowT]:
        for row in kept:
            yield row

    return again


async def export(
    app: App,
    history: History,
    name: str,
    out: Path,
    secret: str = SECRET,
    rows_per_shard: int = 2,
) -> ExportResult:
    rows: dict[str, list[Any]] = {
        "pairs": history.pairs,
        "kto": history.labels,
        "rankings": history.rankings,
    }
    return await export_dataset(
        FORMATS[name],
        source_of(rows[name]),
        out,
        read_png=app.store.read,
        secret=secret,
        exclusions=history.exclusions,
        options=ExportOptions(license="cc-by-4.0", plan=PLAN, rows_per_shard=rows_per_shard),
    )


def load(folder: Path) -> datasets.DatasetDict:
    loaded = datasets.load_dataset(str(folder), cache_dir=str(folder.parent / "hf-cache"))
    assert isinstance(loaded, datasets.DatasetDict)
    return loaded


def exported_people(history: History) -> set[int]:
    return {uid for uid in history.people.values() if history.exclusions.allows_person(uid)}


def test_the_prompts_of_this_history_cover_every_split() -> None:
    assert PLAN.split_of(TRAIN_PROMPT) == PLAN.split_of(OTHER_TRAIN_PROMPT) == "train"
    assert PLAN.split_of(VALIDATION_PROMPT) == "validation_unique"
    assert PLAN.split_of(TEST_PROMPT) == "test_unique"
    # Spacing and case do not make another prompt.
    assert PLAN.split_of("  A  Brown\tDOG ") == "validation_unique"
    assert prompt_key("  A  Brown\tDOG ") == prompt_key(VALIDATION_PROMPT)


async def test_pairs_load_with_every_label_and_read_like_the_dpo_script(
    app: App, tmp_path: Path
) -> None:
    history = await make_history(app)
    result = await export(app, history, "pairs", tmp_path / "pairs")
    loaded = load(tmp_path / "pairs")
    names = Pseudonyms(SECRET)

    assert set(loaded) == {*PROMPT_SPLITS, TIES}
    kept = [
        pair
        for pair in history.pairs
        if pair.user_id in exported_people(history)
        and history.exclusions.allows_image(pair.winner)
        and history.exclusions.allows_image(pair.loser)
    ]
    # bob's and dora's U-clicks (3 pairs each), bob's /rate tie and dora's /rate choice.
    assert len(kept) == 4 * 3 + 2
    assert {split: len(rows) for split, rows in loaded.items()} == result.counts
    assert sum(result.counts.values()) == len(kept)
    assert len(loaded["train"]) == 3 + 3 + 1  # two U-clicks and a /rate choice on the red circle
    assert len(loaded["validation_unique"]) == 3
    assert len(loaded["test_unique"]) == 3
    assert len(loaded[TIES]) == 1
    # Two rows per shard: seven train rows are four shards, every one of them read back.
    assert sum(1 for file in result.files if file.startswith("data/train-")) == 4

    expected = {
        (
            names.person(pair.user_id),
            names.ranking(pair.ranking_id),
            pair.winner.public_id,
            pair.loser.public_id,
            pair.tie,
        )
        for pair in kept
    }
    found = set()
    label_0s = set()
    for split, rows in loaded.items():
        for row in rows:
            assert row["has_label"] is True and row["are_different"] is True
            assert row["label_0"] + row["label_1"] == 1.0
            label_0s.add(row["label_0"])
            if split == TIES:
                assert (row["label_0"], row["tie"], row["best_image_uid"]) == (0.5, True, "")
                winner, loser = row["image_0_uid"], row["image_1_uid"]
            else:
                assert row["tie"] is False and row["label_0"] in (0.0, 1.0)
                winner, loser = (
                    (row["image_0_uid"], row["image_1_uid"])
                    if row["label_0"] == 1.0
                    else (row["image_1_uid"], row["image_0_uid"])
                )
                assert row["best_image_uid"] == winner
                assert PLAN.split_of(row["caption"]) == split
            found.add((row["user_id"], row["ranking_id"], winner, loser, row["tie"]))
            same_prompt = [r for r in rows if r["caption"] == row["caption"]]
            assert row["num_example_per_prompt"] == len(same_prompt)
    assert found == expected
    # Pairs are not always winner first, so label_0 alone says which picture won.
    assert label_0s == {0.0, 0.5, 1.0}

    captions = {split: set(loaded[split]["caption"]) for split in PROMPT_SPLITS}
    assert not captions["train"] & captions["validation_unique"]
    assert not captions["train"] & captions["test_unique"]
    assert not captions["validation_unique"] & captions["test_unique"]

    # The diffusers train_diffusion_dpo.py reader, as it is: JPEG bytes through PIL, the pair
    # swapped so the preferred picture comes first when label_0 is 0.
    def preprocess_train(examples: dict[str, list[Any]]) -> dict[str, list[Any]]:
        columns = []
        for col_name in ["jpg_0", "jpg_1"]:
            images = [
                PIL.Image.open(io.BytesIO(im_bytes)).convert("RGB")
                for im_bytes in examples[col_name]
            ]
            columns.append(images)
        preferred = []
        for i, label_0 in enumerate(examples["label_0"]):
            if label_0 == 0:
                preferred.append(columns[1][i])
            else:
                preferred.append(columns[0][i])
        examples["preferred"] = preferred
        return examples

    images_by_uid = {image.public_id: image for pair in kept for image in (pair.winner, pair.loser)}
    train = loaded["train"].with_transform(preprocess_train)
    for index in range(len(train)):
        example = train[index]
        winner = images_by_uid[example["best_image_uid"]]
        expected_pixels = PIL.Image.open(io.BytesIO(to_jpeg(app.store.read(winner.sha256))))
        assert example["preferred"].tobytes() == expected_pixels.convert("RGB").tobytes()
        assert example["caption"] == winner.prompt


async def test_kto_and_rankings_load_with_every_label(app: App, tmp_path: Path) -> None:
    history = await make_history(app)
    names = Pseudonyms(SECRET)
    people = exported_people(history)

    await export(app, history, "kto", tmp_path / "kto")
    kto = load(tmp_path / "kto")
    assert set(kto) == set(PROMPT_SPLITS)
    assert isinstance(kto["train"].features["image"], datasets.Image)
    kept = [
        label
        for label in history.labels
        if label.user_id in people and history.exclusions.allows_image(label.image)
    ]
    # Four U-clicks (one positive, three negatives each) and a re-roll (four negatives).
    assert len(kept) == 4 * 4 + 4
    found = []
    for split, rows in kto.items():
        for row in rows:
            assert PLAN.split_of(row["caption"]) == split
            picture = row["image"]
            assert isinstance(picture, PIL.Image.Image)
            stored = next(
                label.image for label in kept if label.image.public_id == row["image_uid"]
            )
            with PIL.Image.open(io.BytesIO(app.store.read(stored.sha256))) as original:
                assert picture.tobytes() == original.tobytes()  # PNG: not a pixel lost
            found.append(
                (row["user_id"], row["ranking_id"], row["image_uid"], row["label"], row["source"])
            )
    assert sorted(found) == sorted(
        (
            names.person(label.user_id),
            names.ranking(label.ranking_id),
            label.image.public_id,
            int(label.positive),
            label.source.value,
        )
        for label in kept
    )

    await export(app, history, "rankings", tmp_path / "rankings")
    rankings = load(tmp_path / "rankings")
    rows = [row for split in rankings.values() for row in split]
    # Every grid anyone exported clicked on, but not frank's: he opted out.
    grids = [
        ranking
        for ranking in history.rankings
        if all(history.exclusions.allows_image(image) for image in ranking.images)
    ]
    assert len(rows) == len(grids) == 4
    for ranking in grids:
        row = next(row for row in rows if row["ranking_id"] == names.ranking(ranking.ranking_id))
        assert row["caption"] == ranking.caption
        assert row["image_uids"] == [image.public_id for image in ranking.images]
        assert [shown["seed"] for shown in row["shown"]] == [i.seed for i in ranking.images]
        for picture, image in zip(row["images"], ranking.images, strict=True):
            with PIL.Image.open(io.BytesIO(app.store.read(image.sha256))) as original:
                assert picture.tobytes() == original.tobytes()
        done = [a for a in ranking.actions if a.user_id in people]
        assert [
            (action["event_id"], action["user_id"], action["kind"], action["position"])
            for action in row["actions"]
        ] == [(a.event_id, names.person(a.user_id), a.kind, a.position) for a in done]
        for action, original_action in zip(row["actions"], done, strict=True):
            by_position = {image.position: image.public_id for image in ranking.images}
            assert action["image_uid"] == by_position.get(original_action.position)
            if original_action.kind.startswith("rate_"):
                other = {i.image_id: i.public_id for i in ranking.images}
                assert action["other_image_uid"] == other[original_action.other_image_id]


async def test_exports_are_deterministic_pseudonymous_and_leave_people_out(
    app: App, tmp_path: Path
) -> None:
    history = await make_history(app)
    excluded = [history.people[name] for name in ("carol", "eve", "frank")]
    assert all(not history.exclusions.allows_person(user_id) for user_id in excluded)
    names, other_names = Pseudonyms(SECRET), Pseudonyms("another secret")

    for name in FORMATS:
        first = await export(app, history, name, tmp_path / f"{name}-1")
        again = await export(app, history, name, tmp_path / f"{name}-2")
        assert first.files == again.files
        for file in first.files:
            assert (first.folder / file).read_bytes() == (again.folder / file).read_bytes(), file
        rekeyed = await export(app, history, name, tmp_path / f"{name}-3", secret="another secret")
        # Other pseudonyms are other bytes: shards of other names, and another fingerprint.
        assert first.fingerprint == again.fingerprint != rekeyed.fingerprint
        shards = [file for file in first.files if file.startswith("data/")]
        assert set(shards).isdisjoint(rekeyed.files)

        everything = b"".join(
            path.read_bytes() for path in sorted(first.folder.rglob("*")) if path.is_file()
        )
        # No Discord id (as text or as a 64-bit integer either way round) and no name.
        assert str(DORA_ID).encode() not in everything
        assert DORA_ID.to_bytes(8, "little") not in everything
        assert DORA_ID.to_bytes(8, "big") not in everything
        assert DORA_NAME.encode() not in everything
        # Nothing of the people left out: not their pseudonyms, not their prompts.
        for user_id in excluded:
            assert names.person(user_id).encode() not in everything
        assert OPTED_OUT_PROMPT.encode() not in everything
        # People who are exported appear under their pseudonym, the same in every export,
        # and under another one with another secret.
        dora = history.people[str(DORA_ID)]
        assert names.person(dora).encode() in everything
        rekeyed_bytes = b"".join(
            path.read_bytes() for path in sorted(rekeyed.folder.rglob("*")) if path.is_file()
        )
        assert names.person(dora).encode() not in rekeyed_bytes
        assert other_names.person(dora).encode() in rekeyed_bytes

    card = (tmp_path / "pairs-1" / "README.md").read_text()
    assert 'license: "cc-by-4.0"' in card
    assert "| train | 7 |" in card and "| ties | 1 |" in card


async def test_an_export_straight_from_the_database_shows_its_progress(
    app: App, tmp_path: Path
) -> None:
    history = await make_history(app)
    seen: list[tuple[int, int]] = []
    result = await export_from_database(
        app.database,
        FORMATS["pairs"],
        tmp_path / "pairs",
        read_png=app.store.read,
        secret=SECRET,
        options=ExportOptions(plan=PLAN),
        progress=lambda written, total: seen.append((written, total)),
    )
    same = await export(app, history, "pairs", tmp_path / "from-rows")
    assert result.counts == same.counts
    assert seen == [(n, 14) for n in range(1, 15)]
    assert 'license: "other"' in (tmp_path / "pairs" / "README.md").read_text()


async def test_a_failed_or_refused_export_leaves_nothing(app: App, tmp_path: Path) -> None:
    history = await make_history(app)
    read = 0

    def failing_read(sha256: str) -> bytes:
        nonlocal read
        read += 1
        if read > 3:
            raise ImageNotFoundError(sha256, tmp_path / "gone.png")
        return app.store.read(sha256)

    parent = tmp_path / "exports"
    with pytest.raises(ImageNotFoundError):
        await export_dataset(
            FORMATS["kto"],
            source_of(history.labels),
            parent / "kto",
            read_png=failing_read,
            secret=SECRET,
            exclusions=history.exclusions,
        )
    assert list(parent.iterdir()) == []

    def never_called() -> AsyncIterator[PreferencePair]:
        raise AssertionError("rows were read without a secret")

    with pytest.raises(MissingSecretError):
        await export_dataset(
            FORMATS["pairs"],
            never_called,
            parent / "pairs",
            read_png=app.store.read,
            secret="",
            exclusions=history.exclusions,
        )
    everyone = Exclusions(frozenset(history.people.values()))
    with pytest.raises(ExportError, match="nothing to export"):
        await export_dataset(
            FORMATS["pairs"],
            source_of(history.pairs),
            parent / "pairs",
            read_png=app.store.read,
            secret=SECRET,
            exclusions=everyone,
        )
    assert list(parent.iterdir()) == []


async def test_an_export_job_leaves_out_prompts_with_a_word_banned_since(
    app: App, tmp_path: Path
) -> None:
    """An export job (an admin's /admin export, the flywheel's training set) keeps to the
    server's banned words as ``pickloop export`` does, though the prompts were allowed when
    they were drawn."""
    alice, bob = Actor.local("alice"), Actor.local("bob")
    circle = await _grid(app, alice, "a red circle --seed 1")
    square = await _grid(app, alice, "a blue square --seed 2")
    await app.service.upscale(bob, circle, 1)
    await app.service.upscale(bob, square, 1)
    out = tmp_path / "pairs"
    queued = await app.service.queue_data_job(
        Actor.local("admin"),
        JobKind.EXPORT,
        JobParameters.for_data(export=ExportRequest(format="pairs", out=str(out))),
    )
    async with app.database.sessions() as session:
        job = (
            await session.execute(select(Job).where(Job.public_id == queued.job_id))
        ).scalar_one()
    banned_since = app.settings.model_copy(
        update={"banned_words": ["square"], "export_secret": SecretStr(SECRET)}
    )

    written = (await ExportHandler(banned_since).run(job, None)).outcome

    assert written is not None and written["rows"] == 3
    loaded = datasets.load_dataset(str(out))
    assert {row["caption"] for split in loaded.values() for row in split} == {"a red circle"}
