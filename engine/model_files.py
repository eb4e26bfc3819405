"""A model's facts read from its pipeline folder's files, without torch or diffusers.

Queueing a grid (``pickloop imagine --no-wait``, a bot that only accepts and delivers) needs a
model's native size and prompt limit, not the model itself: read from the folder's config
files and its tokenizer, they cost a fraction of a second instead of the seconds torch and
diffusers take to import. Only UNet pipelines whose files are on this machine are read here
(the built-in models, local folders, hub models already in the cache); for anything else
these answer None and the engine loads the model to tell.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.embedded import EMBEDDED_MODEL, RANDOM_FOLDER_NAME, RANDOM_MODEL, SHIPPED_FOLDER
from engine.errors import EngineError
from engine.info import count_prompt_tokens, unet_model_info
from engine.sources import local_folder
from engine.types import ModelInfo

_INDEX = "model_index.json"


class ModelFiles:
    """Answers ``describe`` and ``count_tokens`` from files where it can (None where not)."""

    def __init__(self, cache_dir: Path) -> None:
        self._cache_dir = cache_dir
        # Tokenizers by folder: loading one takes longer than counting many prompts with it.
        self._tokenizers: dict[Path, Any] = {}

    def describe(self, spec: str) -> ModelInfo | None:
        found = self._folder(spec)
        if found is None:
            return None
        folder, source = found
        configs = [folder / part / "config.json" for part in ("unet", "vae")]
        tokenizer_config = folder / "tokenizer" / "tokenizer_config.json"
        if not all(path.is_file() for path in (*configs, tokenizer_config)):
            return None
        unet, vae = (json.loads(path.read_text(encoding="utf-8")) for path in configs)
        max_tokens = json.loads(tokenizer_config.read_text(encoding="utf-8")).get(
            "model_max_length"
        )
        if not isinstance(max_tokens, int):
            return None
        return unet_model_info(
            source,
            # As diffusers' pipelines work it out: each VAE block but the last halves the size.
            vae_scale=2 ** (len(vae["block_out_channels"]) - 1),
            sample_size=unet["sample_size"],
            unet_blocks=len(unet["block_out_channels"]),
            max_tokens=max_tokens,
        )

    def count_tokens(self, spec: str, text: str) -> int | None:
        found = self._folder(spec)
        if found is None:
            return None
        folder = found[0]
        tokenizer = self._tokenizers.get(folder)
        if tokenizer is None:
            tokenizer = _load_tokenizer(folder)
            if tokenizer is None:
                return None
            self._tokenizers[folder] = tokenizer
        return count_prompt_tokens(tokenizer, text)

    def _folder(self, spec: str) -> tuple[Path, str] | None:
        """The pipeline folder of `spec` on this machine and the source the loader names it
        by, or None where there is none yet (a hub id not in the cache, a model still to be
        built)."""
        if spec == EMBEDDED_MODEL:
            folder: Path | None = SHIPPED_FOLDER
        elif spec == RANDOM_MODEL:
            folder = self._cache_dir / RANDOM_FOLDER_NAME
        else:
            try:
                folder = local_folder(spec)
            except EngineError:
                # The engine says what is wrong with it, in its own words.
                return None
        if folder is None:
            return _cached_hub_folder(spec)
        if not (folder / _INDEX).is_file():
            return None
        return folder, str(folder)


def _cached_hub_folder(hub_id: str) -> tuple[Path, str] | None:
    from huggingface_hub import try_to_load_from_cache

    try:
        index = try_to_load_from_cache(hub_id, _INDEX)
    except ValueError:
        # Not a valid repository id: the engine refuses it.
        return None
    if not isinstance(index, str):
        return None
    return Path(index).parent, hub_id


def _load_tokenizer(folder: Path) -> Any:
    # The class the pipeline itself loads (model_index.json names it), from the same files, so
    # it counts the same tokens; transformers' tokenizers import no torch.
    if not (folder / "tokenizer" / "tokenizer_config.json").is_file():
        return None
    import transformers

    _library, class_name = json.loads((folder / _INDEX).read_text(encoding="utf-8"))["tokenizer"]
    tokenizer_class = getattr(transformers, class_name, None) if class_name else None
    if tokenizer_class is None:
        return None
    return tokenizer_class.from_pretrained(folder, subfolder="tokenizer", local_files_only=True)
