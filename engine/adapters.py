"""LoRA adapters on a loaded model: kept loaded, a bounded number of them, switched per request.

A model's image-to-image pipeline shares its UNet with the text-to-image one, so switching the
adapter of one switches both. The worker thread runs one request at a time, so the switch
before a request holds for all of it.

Many people's profiles draw from one base model, so a model keeps at most ``capacity`` adapters
loaded: the one used longest ago is deleted from the pipelines to make room for a new one, and
is loaded again from its folder when it is next asked for.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.construction import MODULE_CONSTRUCTION
from engine.errors import EngineError

if TYPE_CHECKING:
    # Only for the annotation: the application reads WEIGHTS without loading torch.
    from engine.loader import LoadedModel

# The file diffusers' save_lora_weights writes and load_lora_weights reads.
WEIGHTS = "pytorch_lora_weights.safetensors"


# Adapters one model keeps loaded by default: a rank-8 adapter of an SD 1.5 UNet is about
# 13 MB, of the embedded model a few hundred kB.
ADAPTERS_KEPT = 8


@dataclass
class LoadedAdapters:
    """The adapters loaded into one model's pipelines, the least recently used first."""

    capacity: int = ADAPTERS_KEPT
    names: OrderedDict[str, None] = field(default_factory=OrderedDict)
    # Loads (reloads of evicted adapters included) and evictions since the model was loaded.
    loads: int = 0
    evictions: int = 0

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("a model keeps at least one adapter loaded")

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.names)


def adapter_name(folder: str) -> str:
    """A stable name for an adapter folder, as diffusers wants one per adapter."""
    resolved = str(Path(folder).expanduser().resolve())
    return "adapter_" + hashlib.sha256(resolved.encode()).hexdigest()[:16]


def use_adapter(model: LoadedModel, adapter: str | None) -> None:
    """Make `adapter` (a folder diffusers' `save_lora_weights` wrote) the model's only active
    adapter, or switch adapters off for None."""
    pipeline = model.text_to_image
    cache = model.adapters
    if adapter is None:
        if cache:
            pipeline.disable_lora()
        return
    name = adapter_name(adapter)
    if name in cache:
        cache.names.move_to_end(name)
    else:
        if not (Path(adapter).expanduser() / WEIGHTS).is_file():
            raise EngineError(f"{adapter} is not a LoRA adapter folder (it has no {WEIGHTS})")
        while len(cache) >= cache.capacity:
            oldest, _ = cache.names.popitem(last=False)
            pipeline.delete_adapters([oldest])
            cache.evictions += 1
        try:
            with MODULE_CONSTRUCTION, warnings.catch_warnings():
                # Keeping several adapters and switching between them is the point here; peft
                # warns about a second one on the same model all the same.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                pipeline.load_lora_weights(str(Path(adapter).expanduser()), adapter_name=name)
        except Exception as error:
            raise EngineError.wrapping(f"cannot load adapter {adapter}", error) from error
        cache.names[name] = None
        cache.loads += 1
    pipeline.enable_lora()
    pipeline.set_adapters([name])
