"""What a model spec names (a built-in model, a local pipeline folder, or a hub id), told
without torch: the checks here run before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path

from engine.embedded import EMBEDDED_MODEL, RANDOM_MODEL
from engine.errors import EngineError


def local_folder(source: str) -> Path | None:
    """The folder `source` names, or None for a hub id; a broken local path is refused here,
    before diffusers could take it for a hub id and try the network."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise EngineError(
                f"{source} is not a diffusers pipeline folder (it has no model_index.json)"
            )
        return path
    if path.exists():
        raise EngineError(f"{source} is a file, not a diffusers pipeline folder")
    looks_like_path = path.is_absolute() or source.startswith((".", "~")) or source.count("/") > 1
    if looks_like_path or "\\" in source:
        raise EngineError(f"model folder {source} does not exist")
    return None


def surely_loadable(spec: str) -> bool:
    """Whether `spec` is a model without loading it: a built-in one, or a pipeline folder. A
    hub id is known only once it loads (it may be mistyped, or the network away)."""
    if spec in (EMBEDDED_MODEL, RANDOM_MODEL):
        return True
    try:
        return local_folder(spec) is not None
    except EngineError:
        return False
