"""The models that ship with pickloop and need no download.

- "embedded" (the default): the toy text-to-image model `pickloop toy train` made, whose weights
  lie in this package (`engine/embedded_model/`). It draws the toy world's scenes (coloured
  circles, squares, triangles and stars on a coloured background) from their captions.
- "embedded-random": a tiny randomly initialised pipeline, built into the cache on first use. It
  draws noise; it is the floor the trained model is measured against, and the quickest model
  there is for trying the plumbing.
"""

from pathlib import Path

from engine.folders import publish_folder

EMBEDDED_MODEL = "embedded"
RANDOM_MODEL = "embedded-random"
RANDOM_FOLDER_NAME = "embedded-tiny"
SHIPPED_FOLDER = Path(__file__).with_name("embedded_model")


def embedded_model_folder() -> Path:
    """The folder of the trained model that ships in the package."""
    if not (SHIPPED_FOLDER / "model_index.json").is_file():
        raise FileNotFoundError(f"the embedded model is missing from {SHIPPED_FOLDER}")
    return SHIPPED_FOLDER


def model_source(spec: str, cache_dir: Path) -> str:
    """What the loader loads for a model spec: a folder for the built-in names, else the spec."""
    if spec == EMBEDDED_MODEL:
        return str(embedded_model_folder())
    if spec == RANDOM_MODEL:
        return str(random_model_folder(cache_dir))
    return spec


def random_model_folder(cache_dir: Path) -> Path:
    """The random tiny model's pipeline folder under `cache_dir`, built there if missing."""
    folder = cache_dir / RANDOM_FOLDER_NAME
    if not folder.is_dir():
        _build_atomically(folder)
    return folder


def _build_atomically(folder: Path) -> None:
    # Imported here: the names above are read at start-up, the builder needs torch.
    from engine.tiny import build_tiny_pipeline

    publish_folder(folder, build_tiny_pipeline)
