"""Writing one export: derived rows in, a ``datasets`` folder (parquet shards under ``data/``
and a README.md dataset card) out.

Rows are read twice, so memory never holds them: a first pass counts them (per split and
prompt, for ``num_example_per_prompt`` and the progress bar), a second writes them. The
folder is built beside its destination and renamed into place when complete, so a failed or
interrupted export leaves nothing that looks like a dataset; what a killed one leaves there,
the next export to the same destination removes. The folder and everything in it are their
owner's alone (0700, 0600): they carry people's prompts and pictures.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from storage.db import Database
from storage.export.card import dataset_card
from storage.export.exclusions import Exclusions
from storage.export.formats import Context, Format
from storage.export.images import ExportImages
from storage.export.pseudonym import Pseudonyms
from storage.export.shards import (
    SplitWriter,
    create_owner_only,
    export_fingerprint,
    split_of,
)
from storage.export.splits import SplitPlan, prompt_digest
from storage.labels.curate import Curation, Curator, curated, survey

# Made of images: 1000 pairs of two ~300 kB JPEGs (1024 px) is a shard of about 600 MB.
ROWS_PER_SHARD = 1000
ROWS_PER_BATCH = 100
# The license field is the operator's to set; "other" claims none until they do.
DEFAULT_LICENSE = "other"
OWNER_ONLY_FOLDER = 0o700
# Staging folders this process is building now: a cleanup of stale ones spares them, though
# they carry this process's id (two exports to one destination may run in one process).
_STAGING_NOW: set[str] = set()

Progress = Callable[[int, int], None]  # rows written, rows in all


class ExportError(Exception):
    pass


@dataclass(frozen=True)
class ExportOptions:
    license: str = DEFAULT_LICENSE
    plan: SplitPlan = field(default_factory=SplitPlan)
    rows_per_shard: int = ROWS_PER_SHARD
    rows_per_batch: int = ROWS_PER_BATCH


@dataclass(frozen=True)
class ExportResult:
    format: str
    folder: Path
    counts: dict[str, int]  # rows per split
    files: tuple[str, ...]  # inside the folder, POSIX-style
    # What the export holds (export_fingerprint): two exports of other rows never share it.
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "folder": str(self.folder),
            "rows": sum(self.counts.values()),
            "splits": self.counts,
            "files": list(self.files),
            "fingerprint": self.fingerprint,
        }


async def export_dataset(
    format: Format[Any],
    rows: Callable[[], AsyncIterable[Any]],
    out: Path,
    *,
    read_png: Callable[[str], bytes],
    secret: str,
    exclusions: Exclusions,
    options: ExportOptions | None = None,
    progress: Progress | None = None,
    curation: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Export what ``rows()`` yields (called once per pass: it must yield the same rows each
    time) as ``format`` into the new folder ``out``."""
    options = options or ExportOptions()
    pseudonyms = Pseudonyms(secret)  # before anything is read: no secret, no export
    # Before the destination is checked, so that what killed exports left goes even when a
    # finished one's folder is there and this export is refused.
    _remove_stale_staging(out)
    _check_destination(out)

    def admitted(row: Any) -> tuple[Any, str, tuple[str, bytes]] | None:
        kept = format.admit(row, exclusions)
        if kept is None:
            return None
        split = format.split_of(kept, options.plan)
        return kept, split, (split, prompt_digest(format.caption(kept)))

    per_prompt: Counter[tuple[str, bytes]] = Counter()
    async for row in rows():
        if (found := admitted(row)) is not None:
            per_prompt[found[2]] += 1
    total = sum(per_prompt.values())
    if total == 0:
        raise ExportError(
            f"nothing to export as {format.name}: no one who may be exported has done anything "
            "that gives such rows yet"
        )

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = _make_staging(out)
    try:
        data = staging / "data"
        data.mkdir(mode=OWNER_ONLY_FOLDER)
        writers = {
            split: SplitWriter(
                data,
                split,
                format.features.arrow_schema,
                rows_per_shard=options.rows_per_shard,
                rows_per_batch=options.rows_per_batch,
            )
            for split in format.splits
        }
        images = ExportImages(read_png)
        written = 0
        async for row in rows():
            if (found := admitted(row)) is None:
                continue
            kept, split, key = found
            context = Context(images, pseudonyms, examples_per_prompt=per_prompt[key])
            writers[split].write(format.record(kept, context))
            written += 1
            if progress is not None:
                progress(written, max(total, written))
        by_split = {split: writer.close() for split, writer in writers.items()}
        shards = [shard for split_shards in by_split.values() for shard in split_shards]
        counts = {split: writer.rows for split, writer in writers.items()}
        fingerprint = export_fingerprint(shards)
        shares = (
            f"validation {options.plan.validation:.0%}, test {options.plan.test:.0%} of prompts"
        )
        card = dataset_card(
            format,
            counts,
            {split: [shard.name for shard in found] for split, found in by_split.items()},
            fingerprint,
            license=options.license,
            split_shares=shares,
            curation=curation,
        )
        readme = staging / "README.md"
        create_owner_only(readme)
        readme.write_text(card, encoding="utf-8")
        _move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        _STAGING_NOW.discard(staging.name)
    files = ("README.md", *(f"data/{shard.name}" for shard in shards))
    return ExportResult(format.name, out, counts, files, fingerprint)


async def export_from_database(
    database: Database,
    format: Format[Any],
    out: Path,
    *,
    read_png: Callable[[str], bytes],
    secret: str,
    curation: Curation | None = None,
    options: ExportOptions | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Export what people did up to now, derived from the events and curated (people who opted
    out or are blocked are always left out; ``curation`` says what else).

    Events recorded while the export runs (the bot may be serving) wait for the next one: the
    curation's survey fixes the last event read, so both passes read the same rows.
    """
    Pseudonyms(secret)  # no secret: refuse before reading anything
    curation = curation or Curation()
    surveyed = await survey(database, curation.person)
    # The people the survey found left out: one read, the same snapshot for both passes.
    exclusions = Exclusions(surveyed.excluded_people, surveyed.excluded_jobs)

    async def rows() -> AsyncIterator[Any]:
        curator = Curator(curation, surveyed)
        async for grid in curated(database, curation, curator=curator):
            for row in format.rows_of(grid):
                yield row

    return await export_dataset(
        format,
        rows,
        out,
        read_png=read_png,
        secret=secret,
        exclusions=exclusions,
        options=options,
        progress=progress,
        curation=curation.to_json(),
    )


def finished_export(format: Format[Any], out: Path) -> ExportResult | None:
    """What an export into ``out`` wrote, read back from the folder; None when there is no
    finished export there. A folder is renamed into place only once complete, so one that is
    there is whole: an export job whose worker died after writing it, run again, ends with it."""
    data = out / "data"
    if not (out / "README.md").is_file() or not data.is_dir():
        return None
    shards = sorted(data.glob("*.parquet"))
    rows = [(split_of(shard), pq.read_metadata(shard).num_rows) for shard in shards]
    counts = {split: sum(n for of, n in rows if of == split) for split in format.splits}
    files = ("README.md", *(f"data/{shard.name}" for shard in shards))
    return ExportResult(format.name, out, counts, files, export_fingerprint(shards))


def _check_destination(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty folder; export to a new one")


def _make_staging(out: Path) -> Path:
    """A new owner-only folder beside ``out`` to build the export in, named for this process
    so that a later export can tell what a killed one left from one still running."""
    staging = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(8)}.partial"
    staging.mkdir(mode=OWNER_ONLY_FOLDER)
    _STAGING_NOW.add(staging.name)
    return staging


def _remove_stale_staging(out: Path) -> None:
    if not out.parent.is_dir():
        return
    # Read from the right, a name of this shape belongs to ``out`` and no other destination
    # (not to "out.2", say). Linux process ids have at most seven digits; nine keep any
    # number matched within what os.kill takes.
    ours = re.compile(re.escape(f".{out.name}.") + r"([1-9][0-9]{0,8})\.[0-9a-f]{16}\.partial")
    for entry in out.parent.iterdir():
        found = ours.fullmatch(entry.name)
        if found is None or entry.name in _STAGING_NOW or not _has_ended(int(found[1])):
            continue
        # Not a symlink's target, nor a file of that name: rmtree refuses both.
        shutil.rmtree(entry, ignore_errors=True)


def _has_ended(pid: int) -> bool:
    if pid == os.getpid():
        # An earlier export of this process (or of an ended one whose id it now has, as
        # happens across container restarts), not running: running ones were spared.
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process is there
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # there, under another account
    return False


def _move_into_place(staging: Path, out: Path) -> None:
    if out.exists():
        out.rmdir()  # checked empty before the export began
    staging.rename(out)


def _shards_of(folder: Path, split: str) -> list[Path]:
    """The parquet shards of one split of an export, in name order."""
    return [
        shard for shard in sorted((folder / "data").glob("*.parquet")) if split_of(shard) == split
    ]


def split_rows(folder: Path, split: str = "train") -> int:
    """The rows of a split of an export, of any layout (from the shards' metadata)."""
    return sum(pq.read_metadata(shard).num_rows for shard in _shards_of(folder, split))


def label_counts(folder: Path, split: str = "train") -> tuple[int, int]:
    """The liked and the passed-over pictures in a split of a ``kto`` export."""
    labels = [
        label
        for shard in _shards_of(folder, split)
        for label in pq.read_table(shard, columns=["label"]).column("label").to_pylist()
    ]
    return sum(1 for label in labels if label), sum(1 for label in labels if not label)
