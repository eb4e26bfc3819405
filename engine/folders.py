"""Folders that appear whole or not at all: written beside their place, then renamed into it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def publish_folder(
    folder: Path, fill: Callable[[Path], object], *, replace_existing: bool = False
) -> Path:
    """Make ``folder`` by calling ``fill`` on an empty staging folder beside it and renaming
    that into place, so that a crash or a concurrent writer never leaves a half-written folder
    under the final name. A folder someone else published meanwhile is kept (theirs is as good
    as ours) unless ``replace_existing``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        fill(staging)
        if replace_existing and folder.exists():
            shutil.rmtree(folder)
        try:
            staging.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
