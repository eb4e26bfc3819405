"""pickloop's image engine: diffusers models in, PIL images and progress out.

It knows nothing of Discord or the database.
"""

from engine.embedded import EMBEDDED_MODEL
from engine.errors import EngineError
from engine.grid import compose_grid
from engine.local import LocalEngine
from engine.protocol import Engine
from engine.types import GenerationRequest, ModelInfo, Progress, ProgressCallback

__all__ = [
    "EMBEDDED_MODEL",
    "Engine",
    "EngineError",
    "GenerationRequest",
    "LocalEngine",
    "ModelInfo",
    "Progress",
    "ProgressCallback",
    "compose_grid",
]
