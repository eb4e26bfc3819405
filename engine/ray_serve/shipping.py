"""LoRA adapters on their way to replicas, named by content.

A replica may run on another machine, where the folder an adapter was trained into does not
exist. So an adapter travels as a parcel: the SHA-256 of its weights, the path it has where it
was sent from (a replica that sees the same file there, on a shared filesystem, reads it from
disk), and its bytes in Ray's object store, put there once per process and fetched only by a
replica that has neither. A replica keeps what it received in its cache under the hash, checks
every byte against it, and draws from there: two people's grids with one adapter share a
pipeline call however they named it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from engine.adapters import WEIGHTS
from engine.errors import EngineError
from engine.folders import publish_folder


@dataclass(frozen=True)
class AdapterParcel:
    sha256: str
    """Of the adapter's weights file: what the replica checks and files it under."""
    path: str
    """The adapter folder where it was sent from."""
    weights: Any
    """An ``ObjectRef`` to the weights' bytes in the object store."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AdapterSender:
    """Makes parcels of adapter folders, reading and storing each version of a file once."""

    def __init__(self) -> None:
        self._parcels: dict[tuple[str, int, int], AdapterParcel] = {}

    def parcel(self, folder: str) -> AdapterParcel:
        weights = Path(folder).expanduser() / WEIGHTS
        try:
            seen = weights.stat()
        except OSError as error:
            raise EngineError(
                f"{folder} is not a LoRA adapter folder (it has no {WEIGHTS})"
            ) from error
        version = (str(weights.resolve()), seen.st_mtime_ns, seen.st_size)
        if version not in self._parcels:
            data = weights.read_bytes()
            self._parcels[version] = AdapterParcel(_sha256(data), folder, ray.put(data))
        return self._parcels[version]


class AdapterCache:
    """A replica's adapters, one folder per SHA-256 under ``root``."""

    def __init__(self, root: Path) -> None:
        self._root = root

    async def folder_for(self, parcel: AdapterParcel) -> str:
        """The folder of the parcel's adapter on this machine, received first if need be."""
        if len(parcel.sha256) != 64 or not all(c in "0123456789abcdef" for c in parcel.sha256):
            raise EngineError("an adapter arrived without a SHA-256 to check it by")
        folder = self._root / parcel.sha256
        if (folder / WEIGHTS).is_file():
            return str(folder)
        data = self._from_shared_path(parcel)
        if data is None:
            data = await parcel.weights
        if _sha256(data) != parcel.sha256:
            raise EngineError(
                f"the adapter {parcel.path} arrived damaged: its bytes do not match its SHA-256"
            )
        # Another replica of this machine may be receiving the same adapter at once.
        publish_folder(folder, lambda staging: (staging / WEIGHTS).write_bytes(data))
        return str(folder)

    @staticmethod
    def _from_shared_path(parcel: AdapterParcel) -> bytes | None:
        weights = Path(parcel.path).expanduser() / WEIGHTS
        try:
            data = weights.read_bytes()
        except OSError:
            return None
        # The same path on another machine may hold another file: only the same bytes count.
        return data if _sha256(data) == parcel.sha256 else None
