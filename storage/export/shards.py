"""Parquet shards of one split, written as rows arrive: memory holds one batch, never a split.

Files are named ``<split>-00000-of-00003-<fingerprint>.parquet`` like the Hugging Face Hub's own:
the count is known only once a split is finished, so shards are renamed then, and the
fingerprint (the first 16 hex digits of the file's SHA-256) makes the name say what the file
holds. ``datasets`` keys its cache by the names a card lists, not by what the files hold, so
two exports of different rows must never list the same names. Output bytes depend on
the rows alone: no timestamps, fixed compression, the schema (with its ``datasets``
features) in the file's metadata. Shards are their owner's alone to read (0600), like the
export folder they are written into.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Exports carry people's prompts and pictures: files in one are readable by its owner only.
OWNER_ONLY = 0o600


FINGERPRINT_DIGITS = 16


def split_of(shard: Path) -> str:
    """The split a finished shard holds, from its name (as ``SplitWriter.close`` names it)."""
    return shard.name.rsplit("-", 4)[0]


def content_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:FINGERPRINT_DIGITS]


def create_owner_only(path: Path) -> None:
    """Create the new, empty file ``path`` readable by its owner alone (a umask can only
    narrow that); writing it afterwards truncates it, which keeps its mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY))


def export_fingerprint(shards: list[Path]) -> str:
    """What a whole export holds, in one SHA-256: of its shard names in order, each of which
    carries its content's fingerprint."""
    names = sorted(shard.name for shard in shards)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


class SplitWriter:
    def __init__(
        self,
        folder: Path,
        split: str,
        schema: pa.Schema,
        *,
        rows_per_shard: int,
        rows_per_batch: int,
    ) -> None:
        if rows_per_shard < 1 or rows_per_batch < 1:
            raise ValueError("shards and batches hold at least one row")
        self._folder = folder
        self._split = split
        self._schema = schema
        self._rows_per_shard = rows_per_shard
        self._rows_per_batch = min(rows_per_batch, rows_per_shard)
        self._batch: list[dict[str, Any]] = []
        self._shards: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_shard = 0
        self.rows = 0

    def write(self, record: dict[str, Any]) -> None:
        self._batch.append(record)
        self.rows += 1
        if len(self._batch) >= self._rows_per_batch:
            self._flush()

    def close(self) -> list[Path]:
        """Finish the split and return its shards: none for an empty split, which ``datasets``
        cannot load, so a dataset card names only splits with rows."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
        total = len(self._shards)
        named = []
        for index, shard in enumerate(self._shards):
            fingerprint = content_fingerprint(shard)
            final = shard.with_name(
                f"{self._split}-{index:05d}-of-{total:05d}-{fingerprint}.parquet"
            )
            shard.replace(final)
            named.append(final)
        return named

    def _flush(self) -> None:
        while self._batch:
            if self._writer is None or self._rows_in_shard >= self._rows_per_shard:
                if self._writer is not None:
                    self._writer.close()
                self._writer = self._open_shard()
                self._rows_in_shard = 0
            room = self._rows_per_shard - self._rows_in_shard
            taken, self._batch = self._batch[:room], self._batch[room:]
            table = pa.Table.from_pylist(taken, schema=self._schema)
            self._writer.write_table(table, row_group_size=self._rows_per_batch)
            self._rows_in_shard += len(taken)

    def _open_shard(self) -> pq.ParquetWriter:
        path = self._folder / f"{self._split}-{len(self._shards):05d}.parquet.partial"
        create_owner_only(path)
        self._shards.append(path)
        return pq.ParquetWriter(
            path, self._schema, compression="snappy", write_statistics=True, use_dictionary=True
        )
