"""LoRA adapters on a loaded model: loaded once each, switched per request.

A model's image-to-image pipeline shares its UNet with the text-to-image one, so switching the
adapter of one switches both. The worker thread runs one request at a time, so the switch
before a request holds for all of it.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from engine.construction import MODULE_CONSTRUCTION
from engine.errors import EngineError

if TYPE_CHECKING:
    # Only for the annotation: the application reads WEIGHTS without loading torch.
    from engine.loader import LoadedModel

# The file diffusers' save_lora_weights writes and load_lora_weights reads.
WEIGHTS = "pytorch_lora_weights.safetensors"


def adapter_name(folder: str) -> str:
    """A stable name for an adapter folder, as diffusers wants one per adapter."""
    resolved = str(Path(folder).expanduser().resolve())
    return "adapter_" + hashlib.sha256(resolved.encode()).hexdigest()[:16]


def use_adapter(model: LoadedModel, adapter: str | None) -> None:
    """Make `adapter` (a folder diffusers' `save_lora_weights` wrote) the model's only active
    adapter, or switch adapters off for None."""
    pipeline = model.text_to_image
    if adapter is None:
        if model.adapters:
            pipeline.disable_lora()
        return
    name = adapter_name(adapter)
    if name not in model.adapters:
        if not (Path(adapter).expanduser() / WEIGHTS).is_file():
            raise EngineError(f"{adapter} is not a LoRA adapter folder (it has no {WEIGHTS})")
        try:
            with MODULE_CONSTRUCTION, warnings.catch_warnings():
                # Keeping several adapters and switching between them is the point here; peft
                # warns about a second one on the same model all the same.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                pipeline.load_lora_weights(str(Path(adapter).expanduser()), adapter_name=name)
        except Exception as error:
            raise EngineError.wrapping(f"cannot load adapter {adapter}", error) from error
        model.adapters.add(name)
    pipeline.enable_lora()
    pipeline.set_adapters([name])
