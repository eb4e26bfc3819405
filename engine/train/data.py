"""Preference data for fine-tuning, read from a `datasets` folder (or hub name).

Two layouts are read:
- pairs: the Pick-a-Pic v2 columns (`caption`, `jpg_0`, `jpg_1`, `label_0`), as pickloop's
  `pairs` export and Pick-a-Pic itself have them. Ties (label 0.5) say nothing about which
  picture is better, so they are skipped.
- labels: pickloop's `kto` export (`image`, `caption`, `label` 0/1).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

TRAIN_SPLIT = "train"
VALIDATION_SPLIT = "validation_unique"
PAIR_COLUMNS = ("caption", "jpg_0", "jpg_1", "label_0")
LABEL_COLUMNS = ("caption", "image", "label")


@dataclass(frozen=True)
class PairExample:
    caption: str
    chosen: Image.Image
    rejected: Image.Image


@dataclass(frozen=True)
class LabelExample:
    caption: str
    image: Image.Image
    desirable: bool


class DataError(ValueError):
    """The data cannot be trained on; the message says why."""


def _rows(source: str, split: str, columns: Iterable[str]) -> Iterable[Mapping[str, Any]]:
    """The rows of a split of a local folder or a hub dataset.

    A local folder is read afresh every time, through a cache of its own that is thrown away:
    `datasets` keys its shared cache by the folder's name and file names, not their contents,
    so a new export in a folder of the same name (every `pairs` folder) would otherwise come
    back as the rows of an older one.
    """
    from datasets import load_dataset
    from datasets.utils.logging import disable_progress_bar

    # Its bars for preparing each split would bury the trainer's own.
    disable_progress_bar()
    path = Path(source)
    try:
        if not path.exists():
            return _checked(load_dataset(source, split=split), source, columns)
        with tempfile.TemporaryDirectory(prefix="pickloop-dataset-") as cache:
            dataset = load_dataset(str(path), split=split, cache_dir=cache)
            return list(_checked(dataset, source, columns))
    except (FileNotFoundError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"cannot read split {split!r} of {source}: {error}") from error


def _checked(dataset: Any, source: str, columns: Iterable[str]) -> Iterable[Mapping[str, Any]]:
    _require_columns(source, dataset.column_names, columns)
    rows: Iterable[Mapping[str, Any]] = dataset
    return rows


def check_folder_columns(folder: Path, columns: Iterable[str]) -> None:
    """DataError at once when a dataset folder's train split lacks `columns`: read from its
    parquet files' schemas (the layout of pickloop's exports and of the hub), before any job is
    queued to train on it. A folder laid out otherwise is left to the loader to judge."""
    import pyarrow.parquet as pq

    shards = sorted(folder.glob(f"**/{TRAIN_SPLIT}-*.parquet"))
    if shards:
        _require_columns(str(folder), pq.read_schema(shards[0]).names, columns)


def _require_columns(source: str, present: Iterable[str], columns: Iterable[str]) -> None:
    missing = set(columns) - set(present)
    if missing:
        raise DataError(f"{source} lacks the columns {', '.join(sorted(missing))}")


def _picture(value: Any) -> Image.Image:
    """A picture from a column: raw bytes (Pick-a-Pic's jpg_*) or a decoded `Image()`."""
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    if isinstance(value, bytes | bytearray):
        return Image.open(io.BytesIO(value)).convert("RGB")
    if isinstance(value, Mapping) and value.get("bytes") is not None:
        return Image.open(io.BytesIO(value["bytes"])).convert("RGB")
    raise DataError(f"a picture column holds {type(value).__name__}, not an image")


def load_pairs(source: str, split: str = TRAIN_SPLIT) -> list[PairExample]:
    """The decided pairs of a split: the preferred picture first."""
    examples = []
    for row in _rows(source, split, PAIR_COLUMNS):
        label = float(row["label_0"])
        if label == 0.5:
            continue
        first, second = _picture(row["jpg_0"]), _picture(row["jpg_1"])
        chosen, rejected = (first, second) if label > 0.5 else (second, first)
        examples.append(PairExample(str(row["caption"]), chosen, rejected))
    return examples


def load_labels(source: str, split: str = TRAIN_SPLIT) -> list[LabelExample]:
    """The labelled pictures of a split."""
    return [
        LabelExample(str(row["caption"]), _picture(row["image"]), bool(row["label"]))
        for row in _rows(source, split, LABEL_COLUMNS)
    ]
