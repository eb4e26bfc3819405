"""pickloop's image engine: diffusers models in, PIL images and progress out.

It knows nothing of Discord or the database. Its names are imported on first use: torch and
diffusers take seconds to import, and a command that only refuses bad input or prints help
should not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.embedded import EMBEDDED_MODEL as EMBEDDED_MODEL
    from engine.embedded import RANDOM_MODEL as RANDOM_MODEL
    from engine.errors import EngineError as EngineError
    from engine.errors import EngineUnavailable as EngineUnavailable
    from engine.grid import compose_grid as compose_grid
    from engine.local import LocalEngine as LocalEngine
    from engine.protocol import Engine as Engine
    from engine.types import GenerationRequest as GenerationRequest
    from engine.types import ModelInfo as ModelInfo
    from engine.types import Progress as Progress
    from engine.types import ProgressCallback as ProgressCallback
    from engine.types import ScoreRequest as ScoreRequest

_HOMES = {
    "EMBEDDED_MODEL": "engine.embedded",
    "Engine": "engine.protocol",
    "EngineError": "engine.errors",
    "EngineUnavailable": "engine.errors",
    "GenerationRequest": "engine.types",
    "LocalEngine": "engine.local",
    "ModelInfo": "engine.types",
    "Progress": "engine.types",
    "ProgressCallback": "engine.types",
    "RANDOM_MODEL": "engine.embedded",
    "ScoreRequest": "engine.types",
    "compose_grid": "engine.grid",
}

__all__ = [
    "EMBEDDED_MODEL",
    "RANDOM_MODEL",
    "Engine",
    "EngineError",
    "EngineUnavailable",
    "GenerationRequest",
    "LocalEngine",
    "ModelInfo",
    "Progress",
    "ProgressCallback",
    "ScoreRequest",
    "compose_grid",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
