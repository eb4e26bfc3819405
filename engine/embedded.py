"""The embedded default model: built into the cache on first use, then loaded like any folder."""

import shutil
import tempfile
from pathlib import Path

EMBEDDED_MODEL = "embedded"
FOLDER_NAME = "embedded-tiny"


def embedded_model_folder(cache_dir: Path) -> Path:
    """The embedded model's pipeline folder under `cache_dir`, built there if missing."""
    folder = cache_dir / FOLDER_NAME
    if not folder.is_dir():
        _build_atomically(folder)
    return folder


def _build_atomically(folder: Path) -> None:
    # Built beside its final place and renamed into it, so that a crash or a concurrent build
    # never leaves a half-written folder under the final name.
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        # Imported here: the name above is read at start-up, the builder needs torch.
        from engine.tiny import build_tiny_pipeline

        build_tiny_pipeline(staging)
        try:
            staging.rename(folder)
        except OSError:
            # Another build got there first; its folder is as good as ours.
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
