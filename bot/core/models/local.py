"""Loading a model in this process the way the engine would, for the commands that need the
pipeline itself (evaluating, fine-tuning) rather than the engine's requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from bot.config import Settings
    from engine.loader import LoadedModel


def load_configured(spec: str, settings: Settings, dtype: torch.dtype | None = None) -> LoadedModel:
    """`spec` (a built-in name, hub id or folder) on the configured device; ValueError if it
    cannot be loaded. `dtype` overrides the configured precision (training wants float32)."""
    from engine.chatter import silence_library_progress
    from engine.device import Accelerators, select_device, select_dtype
    from engine.embedded import model_source
    from engine.errors import EngineError
    from engine.loader import load_model

    # pickloop shows its own progress (a job's, a trainer's): the loading bars would bury it.
    silence_library_progress()
    available = Accelerators.detect()
    device = select_device(settings.device, available)
    precision = dtype or select_dtype(settings.dtype, device, available)
    try:
        return load_model(model_source(spec, settings.model_cache_dir), device, precision)
    except (EngineError, FileNotFoundError) as error:
        raise ValueError(str(error)) from error
