"""A model's facts read from its files (no torch) are the ones the engine tells once loaded."""

from pathlib import Path

import pytest

from engine import EMBEDDED_MODEL, RANDOM_MODEL, LocalEngine
from engine.model_files import ModelFiles

PROMPTS = ["", "a red circle", "a blue star on a green background", " ".join(["red"] * 100)]


@pytest.mark.parametrize("which", ["folder", "embedded"])
async def test_files_tell_what_the_loaded_model_tells(
    which: str, tiny_model_dir: Path, local_engine: LocalEngine, tmp_path: Path
) -> None:
    model = str(tiny_model_dir) if which == "folder" else EMBEDDED_MODEL
    files = ModelFiles(tmp_path)

    assert files.describe(model) == await local_engine.describe(model)
    for prompt in PROMPTS:
        assert files.count_tokens(model, prompt) == await local_engine.count_tokens(model, prompt)


@pytest.mark.usefixtures("no_network")
def test_models_without_files_here_are_left_to_the_engine(tmp_path: Path) -> None:
    not_a_pipeline = tmp_path / "photos"
    not_a_pipeline.mkdir()
    files = ModelFiles(tmp_path / "cache")

    # Not yet built into the cache, not in the hub cache, not a pipeline folder, not there.
    for model in (RANDOM_MODEL, "someone/some-model", str(not_a_pipeline), "/no/such/folder"):
        assert files.describe(model) is None
        assert files.count_tokens(model, "a red circle") is None
