"""The content-addressed image store: every image file named by the sha256 of its bytes.

Files live at ``<root>/ab/cd/<sha256>.png``, where ``ab`` and ``cd`` are the first two byte
pairs of the hash, so no folder grows past a few hundred thousand entries. The same image
made twice is stored once. Writes are atomic: a reader sees a whole file or none, even after
a crash or a power cut.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path

from PIL import Image

# Checked before any path is built, so a hash taken from a custom_id or a database row can
# never name a file outside the store.
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class ImageStoreError(Exception):
    pass


class InvalidHashError(ImageStoreError, ValueError):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"not a sha256 hex digest (64 lowercase hex characters): {sha256!r}")


class ImageNotFoundError(ImageStoreError, FileNotFoundError):
    def __init__(self, sha256: str, path: Path) -> None:
        super().__init__(f"image {sha256} is not in the store (no file at {path})")
        self.sha256 = sha256
        self.path = path


class CorruptImageError(ImageStoreError):
    def __init__(self, sha256: str, path: Path, actual: str) -> None:
        super().__init__(
            f"image file {path} is corrupt: its content hashes to {actual}, not {sha256}"
        )
        self.sha256 = sha256
        self.path = path
        self.actual = actual


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not _SHA256_HEX.fullmatch(sha256):
            raise InvalidHashError(sha256)
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.png"

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256; storing the same bytes again changes nothing."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.is_file():
            return sha256
        _make_folders_durably(target.parent)
        # The temporary name can never look like a stored image, so a crash mid-write leaves
        # at worst a stray ".tmp" file, never a truncated "<sha256>.png".
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_folder(target.parent)
        return sha256

    def read(self, sha256: str) -> bytes:
        """The stored bytes, checked against their name so a damaged file is never served."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageNotFoundError(sha256, path) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise CorruptImageError(sha256, path, actual)
        return data

    def problem(self, sha256: str) -> str | None:
        """What is wrong with a stored file ("missing", "damaged"), or None when it is intact;
        read in full, as ``read`` would."""
        try:
            self.read(sha256)
        except ImageNotFoundError:
            return "missing"
        except CorruptImageError:
            return "damaged (its bytes changed)"
        return None

    def delete(self, sha256: str) -> bool:
        """Remove the file; False when it was not there.

        Empty folders stay: removing one could race with a concurrent ``put`` into it.
        """
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes that depend on the pixels alone, so the same picture always gets the same hash.

    Metadata the image carries (text chunks, ICC profile, dpi, EXIF) is dropped, and the
    pixels are brought to RGB, or RGBA when the image has transparency.
    """
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    mode = "RGBA" if has_alpha else "RGB"
    pixels = image.convert(mode)
    # A fresh image from raw bytes carries no ``info`` for the encoder to copy into chunks.
    bare = Image.frombytes(mode, pixels.size, pixels.tobytes())
    buffer = io.BytesIO()
    bare.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def _make_folders_durably(folder: Path) -> None:
    # A file whose folder's own entry is lost in a crash is lost with it, so each new
    # folder is made durable in its parent before anything is written inside.
    missing: list[Path] = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for new_folder in reversed(missing):
        new_folder.mkdir(exist_ok=True)  # another writer may have made it meanwhile
        _fsync_folder(new_folder.parent)


def _fsync_folder(folder: Path) -> None:
    # Windows cannot open a folder to fsync it; NTFS journals the rename by itself.
    if os.name == "nt":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
