"""The pieces of an export that need no database: pseudonyms, splits, parquet shards."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.export import MissingSecretError, Pseudonyms, SplitPlan
from storage.export.shards import SplitWriter, split_of
from storage.export.splits import PROMPT_SPLITS, prompt_key


def test_pseudonyms_are_keyed_stable_and_short() -> None:
    names = Pseudonyms("a secret")
    assert names.person(7) == Pseudonyms("a secret").person(7)
    assert re.fullmatch(r"[0-9a-f]{16}", names.person(7))
    assert names.person(7) != names.person(8)
    assert names.person(7) != Pseudonyms("another secret").person(7)
    # A person and a ranking never share a name, even from the same number.
    assert names.person(7) != names.ranking("7")


@pytest.mark.parametrize("secret", ["", "   ", "\n"])
def test_pseudonyms_refuse_an_empty_secret(secret: str) -> None:
    with pytest.raises(MissingSecretError, match="PICKLOOP_EXPORT_SECRET"):
        Pseudonyms(secret)


@given(st.text(min_size=1, max_size=60))
def test_a_prompt_is_in_one_split_however_it_is_spaced(caption: str) -> None:
    plan = SplitPlan(validation=0.3, test=0.3)
    respaced = "  " + "\t".join(caption.split()) + " \n"
    assert prompt_key(caption) == prompt_key(respaced)
    assert plan.split_of(caption) == plan.split_of(respaced) in PROMPT_SPLITS


def test_a_prompt_is_in_one_split_whatever_its_case() -> None:
    assert prompt_key("A Lighthouse at DUSK") == prompt_key("a lighthouse at dusk")
    assert prompt_key("Straße") == prompt_key("STRASSE")


def test_split_shares_follow_the_plan() -> None:
    plan = SplitPlan(validation=0.1, test=0.2)
    splits = [plan.split_of(f"prompt number {n}") for n in range(5000)]
    assert 0.08 < splits.count("validation_unique") / 5000 < 0.12
    assert 0.18 < splits.count("test_unique") / 5000 < 0.22
    assert SplitPlan(validation=0, test=0).split_of("anything") == "train"


@pytest.mark.parametrize(("validation", "test"), [(-0.1, 0.1), (0.5, 0.5), (0.9, 0.2)])
def test_a_plan_leaves_some_prompts_for_train(validation: float, test: float) -> None:
    with pytest.raises(ValueError, match="leave some for train"):
        SplitPlan(validation=validation, test=test)


def test_shards_hold_at_most_their_rows_and_are_named_for_the_hub(tmp_path: Path) -> None:
    schema = pa.schema([("n", pa.int64()), ("text", pa.string())])
    writer = SplitWriter(tmp_path, "train", schema, rows_per_shard=3, rows_per_batch=2)
    for n in range(8):
        writer.write({"n": n, "text": f"row {n}"})
    shards = writer.close()
    # The Hub's names, each ending in the first 16 hex digits of the file's own SHA-256.
    assert [shard.name for shard in shards] == [
        f"train-{n:05d}-of-00003-{hashlib.sha256(shard.read_bytes()).hexdigest()[:16]}.parquet"
        for n, shard in enumerate(shards)
    ]
    assert [split_of(shard) for shard in shards] == ["train"] * 3
    assert sorted(path.name for path in tmp_path.iterdir()) == [s.name for s in shards]
    tables = [pq.read_table(shard) for shard in shards]
    assert [table.num_rows for table in tables] == [3, 3, 2]
    assert [n for table in tables for n in table.column("n").to_pylist()] == list(range(8))
    assert writer.rows == 8


def test_an_empty_split_writes_no_file(tmp_path: Path) -> None:
    schema = pa.schema([("n", pa.int64())])
    assert SplitWriter(tmp_path, "ties", schema, rows_per_shard=3, rows_per_batch=2).close() == []
    assert list(tmp_path.iterdir()) == []
