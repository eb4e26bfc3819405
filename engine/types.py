"""The values that cross the engine's boundary: what is asked, what a model is, how far it got."""

from collections.abc import Callable
from dataclasses import dataclass

from PIL.Image import Image

# Images one pipeline call draws at most when it gathers several requests: four grids. On a
# 2-core CPU with the embedded model, a grid drawn with three others took 0.84 s against 1.15 s
# alone (bench/bench_engine_batching.py), and a call of 16 grids gained nothing over four;
# on a GPU it bounds the memory a call takes.
DEFAULT_BATCH_IMAGES = 16


@dataclass(frozen=True)
class ModelInfo:
    source: str
    """The resolved hub id or local folder."""
    native_width: int
    native_height: int
    size_multiple: int
    """Widths and heights must be multiples of this."""
    max_prompt_tokens: int
    """The text encoder's limit, special tokens included."""
    takes_prompt_weights: bool = True
    """Whether weighted prompts (``a::2 b``, ``(words)1.3``) can be drawn (not on SD3)."""
    tiles: bool = True
    """Whether --tile can be drawn (UNet models only)."""


@dataclass(frozen=True)
class GenerationRequest:
    model: str
    """A model spec: "embedded", a hub id or a local folder."""
    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance: float
    seeds: tuple[int, ...]
    """One image per seed, all made in one batched pipeline call."""
    init_image: Image | None = None
    """Makes it an image-to-image request (variations, upscale refinement)."""
    strength: float | None = None
    """How far image-to-image may move from `init_image`, from 0 to 1; required with it."""
    adapter: str | None = None
    """A LoRA adapter folder to draw with (a tuned model version); None: the base model."""
    chaos: int = 0
    """0 to 100: how different the pictures of one request are, from each other and, for
    image-to-image, from ``init_image`` (coarse noise in their start: ``engine.variety``)."""
    tile: bool = False
    """Pictures that repeat seamlessly across their edges (``engine.variety``)."""
    mask: Image | None = None
    """Makes it an inpainting request (zoom out, pan, vary region): white where the model draws,
    black where `init_image` is kept as it is; needs `init_image` (``engine.canvas``)."""

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("a generation request needs at least one seed")
        if (self.init_image is None) != (self.strength is None):
            raise ValueError("init_image and strength go together: give both or neither")
        if not 0 <= self.chaos <= 100:
            raise ValueError("chaos goes from 0 to 100")
        if self.mask is not None and self.init_image is None:
            raise ValueError("a mask says what to redraw of init_image: it needs one")


@dataclass(frozen=True)
class Progress:
    step: int
    """Denoising steps done, from 1."""
    total: int


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class ScoreRequest:
    """Pictures of one prompt, to be scored by how much a LoRA adapter prefers each of them to
    the base model (see ``engine.scoring``)."""

    model: str
    adapter: str
    prompt: str
    images: tuple[Image, ...]
    seed: int = 0
    """Where the noise the pictures are judged under comes from: the same seed, the same
    scores."""

    def __post_init__(self) -> None:
        if not self.images:
            raise ValueError("a score request needs at least one picture")
