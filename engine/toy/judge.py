"""An analytic judge: does a picture show the scene its caption describes?

No second model: the judge measures the picture with plain image features and compares them
with the scene, thing by thing.

- **Background**: the palette colour most of the border is nearest to; its measured colour
  (the median of those border pixels) is what every other pixel is compared with.
- **Foreground**: every pixel is explained as a blend of the background with one palette colour
  (how a blurred or anti-aliased edge looks). A pixel belongs to the colour whose blend explains
  it best, when that blend is at least half that colour and the explanation is close enough;
  otherwise it is background, or nothing. This keeps an edge between red and blue from reading
  as purple, and keeps a blurred shape about as large as it was drawn.
- **Things**: the 8-connected blobs of each colour (small specks ignored). A thing whose colour
  has no blob fails everything; otherwise it takes one of its colour's largest blobs (two things
  of one colour share that colour's two largest blobs, matched by where they are).
- **Position**: the cell of the renderer's 3x3 grid (:mod:`engine.toy.render`) the blob's
  bounding-box centre falls in, cells ending halfway between the grid's centres.
- **Size**: the blob's longer bounding-box side against a threshold between small and large
  (a lower one for stars, whose points a blur wears away).
- **Shape**: the nearest of a few prototypes in four features, each in units of its typical
  spread: fill (area over bounding box: square ≈ 1, circle ≈ 0.79, triangle ≈ 0.5, star ≈ 0.45),
  solidity (area over convex hull: a star's points leave it ≈ 0.6, convex shapes ≈ 0.9-1),
  drop (how far down the box the centroid sits: ≈ 2/3 for a triangle pointing up, 1/2 for the
  rest) and reach (how far towards the box's corners it gets: a circle never does).

Pictures are judged at 64x64 (others are resized first). Colours are matched to the nearest
palette colour, never exactly, so a slightly blurred, noisy or off-colour picture is still
judged by what it shows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import numpy.typing as npt
from PIL import Image

from engine.toy.render import CELLS, GRID, centre
from engine.toy.scene import COLOURS, POSITIONS, SHAPES, Scene, Thing

SIDE = 64
"""The side, in pixels, of the pictures the judge measures."""

_NAMES = tuple(COLOURS)
_PALETTE = np.array([COLOURS[name] for name in _NAMES], dtype=np.float32)
_BORDER = 2
"""How many pixels deep the border that decides the background is."""
_MAX_RESIDUAL = 75.0
"""How far (RGB distance) a pixel may be from its best background-to-colour blend."""
_MIN_COVERAGE = 0.5
"""How much of a colour a blend must hold for its pixel to count as that colour."""
_PARTIAL_COST = 0.1
"""How much a blend pays, as a share of the squared distance it leaves unexplained."""
_MIN_AREA = 24
"""Blobs smaller than this many pixels are specks, not things (a small star blurred is 60+)."""
_SIZE_THRESHOLD = 23
"""Longer bounding-box side (pixels) from which a thing is large: small ≈ 16 (up to 19 blurred),
large ≈ 28 (26 and more blurred)."""
_STAR_SIZE_THRESHOLD = 20
"""The same for a star, whose thin points are the first thing a blur takes away (a large star
blurred is 22-25 px across, a small one 11-16)."""
# Typical (fill, solidity, drop, reach) of each shape, from clean renders and blurred, noisy
# ones, and how much each feature typically varies. A small star blurred loses its points and
# looks like a fat pentagon, so stars have a second, blurred, prototype.
_PROTOTYPES: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
    ("circle", (0.78, 0.945, 0.50, 1.48)),  # fill π/4, convex, centroid halfway down, no corners
    ("square", (0.96, 0.975, 0.50, 1.95)),  # fills its box, reaches its corners
    ("triangle", (0.56, 0.90, 0.645, 1.95)),  # pointing up: fill 1/2, centroid 2/3 down
    ("star", (0.47, 0.65, 0.548, 1.66)),  # five points leave half its hull empty
    ("star", (0.66, 0.84, 0.54, 1.76)),  # a small star, blurred
)
_SHAPE_FEATURES = np.array([features for _, features in _PROTOTYPES])
_FEATURE_SPREADS = np.array([0.05, 0.04, 0.02, 0.08])

# Where one column (row) of the renderer's 3x3 grid ends and the next begins, in fractions of
# the side: halfway between the columns' centres.
_CELL_EDGES = tuple((a + b) / 2 for a, b in itertools.pairwise(GRID))
_CELL_NAMES = {cell: name for name, cell in CELLS.items()}
assert set(_CELL_NAMES.values()) == set(POSITIONS)
assert {shape for shape, _ in _PROTOTYPES} == set(SHAPES)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Blob:
    """One connected region of one colour, as measured."""

    colour: str
    area: int
    top: int
    left: int
    bottom: int
    """One past the last row."""
    right: int
    """One past the last column."""
    solidity: float
    """Area over the area of the convex hull of the blob's pixels."""
    drop: float
    """How far down the bounding box the centroid sits: 0.5 for a circle, a square or a star,
    about 2/3 for a triangle pointing up."""
    reach: float
    """The farthest |dx| + |dy| of a pixel from the box's centre, in half-widths and
    half-heights: 2 for a square or a triangle (corners), √2 for a circle, about 1.6 for a star."""

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def touches_edge(self) -> bool:
        """Whether it runs into the picture's edge, which no drawn thing does: the renderer
        keeps every thing 2 pixels off it."""
        return self.top == 0 or self.left == 0 or self.bottom == SIDE or self.right == SIDE

    @property
    def centre(self) -> tuple[float, float]:
        """(x, y) of the bounding box's centre."""
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2

    @property
    def fill(self) -> float:
        return self.area / (self.width * self.height)

    @property
    def position(self) -> str:
        x, y = self.centre
        column = sum(x >= edge * SIDE for edge in _CELL_EDGES)
        row = sum(y >= edge * SIDE for edge in _CELL_EDGES)
        return _CELL_NAMES[column, row]

    @property
    def size(self) -> str:
        threshold = _STAR_SIZE_THRESHOLD if self.shape == "star" else _SIZE_THRESHOLD
        return "large" if max(self.width, self.height) >= threshold else "small"

    @property
    def shape(self) -> str:
        """The shape of the nearest prototype (fill, solidity, drop, reach), in typical spreads."""
        features = np.array([self.fill, self.solidity, self.drop, self.reach])
        distances = (((features - _SHAPE_FEATURES) / _FEATURE_SPREADS) ** 2).sum(axis=-1)
        return _PROTOTYPES[int(distances.argmin())][0]


@dataclass(frozen=True)
class ThingVerdict:
    """Whether one expected thing is in the picture as described."""

    thing: Thing
    blob: Blob | None
    """The blob judged to be the thing; None when its colour is nowhere."""

    @property
    def colour_ok(self) -> bool:
        return self.blob is not None

    @property
    def shape_ok(self) -> bool:
        return self.blob is not None and self.blob.shape == self.thing.shape

    @property
    def size_ok(self) -> bool:
        return self.blob is not None and self.blob.size == self.thing.size

    @property
    def position_ok(self) -> bool:
        return self.blob is not None and self.blob.position == self.thing.position

    @property
    def ok(self) -> bool:
        return self.colour_ok and self.shape_ok and self.size_ok and self.position_ok


@dataclass(frozen=True)
class Verdict:
    """Whether a picture shows a scene: its background and each of its things."""

    scene: Scene
    background: str
    """The background colour measured."""
    things: tuple[ThingVerdict, ...]

    @property
    def background_ok(self) -> bool:
        return self.background == self.scene.background

    @property
    def ok(self) -> bool:
        return self.background_ok and all(thing.ok for thing in self.things)


class Accuracy(TypedDict):
    """How often pictures showed what their scenes said. Colour, shape, size and position are
    fractions of things; background and scene are fractions of pictures (scene: all right)."""

    color_accuracy: float
    background_accuracy: float
    shape_accuracy: float
    size_accuracy: float
    position_accuracy: float
    scene_accuracy: float
    n_images: int
    n_things: int


def score(verdicts: Iterable[Verdict]) -> Accuracy:
    """Aggregate verdicts; every accuracy is 0.0 when there are none."""
    images = list(verdicts)
    things = [thing for verdict in images for thing in verdict.things]

    def fraction(hits: Iterable[bool], total: int) -> float:
        return sum(hits) / total if total else 0.0

    return Accuracy(
        color_accuracy=fraction((t.colour_ok for t in things), len(things)),
        background_accuracy=fraction((v.background_ok for v in images), len(images)),
        shape_accuracy=fraction((t.shape_ok for t in things), len(things)),
        size_accuracy=fraction((t.size_ok for t in things), len(things)),
        position_accuracy=fraction((t.position_ok for t in things), len(things)),
        scene_accuracy=fraction((v.ok for v in images), len(images)),
        n_images=len(images),
        n_things=len(things),
    )


def judge(image: Image.Image, scene: Scene) -> Verdict:
    """Measure `image` and say, for the scene's background and each thing, whether it matches."""
    background, blobs = _seen(image)
    chosen: dict[int, Blob] = {}
    for colour in {thing.colour for thing in scene.things}:
        expected = [i for i, thing in enumerate(scene.things) if thing.colour == colour]
        of_colour = sorted((blob for blob in blobs if blob.colour == colour), key=_larger_first)
        found = of_colour[: len(expected)]
        chosen.update(_match(expected, found, scene.things))
    return Verdict(
        scene=scene,
        background=background,
        things=tuple(
            ThingVerdict(thing=thing, blob=chosen.get(i)) for i, thing in enumerate(scene.things)
        ),
    )


def things(image: Image.Image) -> list[Blob]:
    """What the picture shows on its background, as the judge sees it: one blob per connected
    region of a palette colour, specks left out. Measured at 64x64, like every verdict."""
    return _seen(image)[1]


def _seen(image: Image.Image) -> tuple[str, list[Blob]]:
    """The picture's background colour and the blobs on it."""
    pixels = _pixels(image)
    background, background_rgb = _background(pixels)
    return _NAMES[background], _blobs(_colour_labels(pixels, background, background_rgb))


def _larger_first(blob: Blob) -> int:
    return -blob.area


def _pixels(image: Image.Image) -> FloatArray:
    rgb = image.convert("RGB")
    if rgb.size != (SIDE, SIDE):
        rgb = rgb.resize((SIDE, SIDE), Image.Resampling.BOX)
    return np.asarray(rgb, dtype=np.float32)


def _nearest(pixels: FloatArray) -> IntArray:
    """Index of the nearest palette colour of each pixel."""
    distances = ((pixels[..., None, :] - _PALETTE) ** 2).sum(axis=-1)
    return np.asarray(distances.argmin(axis=-1), dtype=np.int64)


def _background(pixels: FloatArray) -> tuple[int, FloatArray]:
    """The palette colour most of the border is nearest to, and its measured RGB."""
    border = np.ones(pixels.shape[:2], dtype=bool)
    border[_BORDER:-_BORDER, _BORDER:-_BORDER] = False
    ring = pixels[border]
    nearest = _nearest(ring)
    colour = int(np.bincount(nearest, minlength=len(_NAMES)).argmax())
    measured = np.median(ring[nearest == colour], axis=0).astype(np.float32)
    return colour, measured


def _colour_labels(pixels: FloatArray, background: int, background_rgb: FloatArray) -> IntArray:
    """Each pixel's colour index, or -1 for background and for what no colour explains."""
    offsets = pixels[..., None, :] - background_rgb  # (h, w, colours, 3)
    directions = _PALETTE - background_rgb  # (colours, 3)
    lengths = np.maximum((directions**2).sum(axis=-1), 1.0)
    coverage = np.clip((offsets * directions).sum(axis=-1) / lengths, 0.0, 1.0)
    residuals = ((offsets - coverage[..., None] * directions) ** 2).sum(axis=-1)
    # A thin blend towards a far colour can explain a pixel as well as a whole near colour
    # (orange on yellow is almost yellow blended with a little red); the whole colour is the
    # likelier explanation inside a shape, so partial blends pay for what they leave out.
    costs = residuals + _PARTIAL_COST * (1.0 - coverage) ** 2 * lengths
    costs[..., background] = np.inf
    best = costs.argmin(axis=-1)
    best_coverage = np.take_along_axis(coverage, best[..., None], axis=-1)[..., 0]
    best_residual = np.take_along_axis(residuals, best[..., None], axis=-1)[..., 0]
    keep = (best_coverage >= _MIN_COVERAGE) & (best_residual <= _MAX_RESIDUAL**2)
    return np.where(keep, best, -1).astype(np.int64)


def _components(labels: IntArray) -> IntArray:
    """8-connected components of equal non-negative labels: each pixel's component is the
    smallest flat index in it, -1 where the label is -1."""
    height, width = labels.shape
    padded = np.full((height + 2, width + 2), -1, dtype=np.int64)
    padded[1:-1, 1:-1] = labels
    inside = labels >= 0
    size = height * width
    roots = np.where(inside, np.arange(size).reshape(height, width), size)
    neighbours = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    same = [
        inside & (padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] == labels)
        for dy, dx in neighbours
    ]
    while True:
        padded_roots = np.full((height + 2, width + 2), size, dtype=np.int64)
        padded_roots[1:-1, 1:-1] = roots
        merged = roots.copy()
        for (dy, dx), mask in zip(neighbours, same, strict=True):
            shifted = padded_roots[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
            merged = np.where(mask, np.minimum(merged, shifted), merged)
        # Pointer jumping: a pixel's root's root is in the same component and no larger.
        flat = np.append(merged.ravel(), size)
        while True:
            jumped = flat[flat]
            if np.array_equal(jumped, flat):
                break
            flat = jumped
        merged = flat[:size].reshape(height, width)
        if np.array_equal(merged, roots):
            return np.where(inside, roots, -1)
        roots = merged


def _blobs(labels: IntArray) -> list[Blob]:
    components = _components(labels)
    ids, counts = np.unique(components[components >= 0], return_counts=True)
    blobs = []
    for component, count in zip(ids.tolist(), counts.tolist(), strict=True):
        if count < _MIN_AREA:
            continue
        rows, columns = np.nonzero(components == component)
        colour = _NAMES[int(labels[rows[0], columns[0]])]
        blobs.append(
            Blob(
                colour=colour,
                area=int(count),
                top=int(rows.min()),
                left=int(columns.min()),
                bottom=int(rows.max()) + 1,
                right=int(columns.max()) + 1,
                solidity=count / _hull_area(rows, columns),
                reach=_reach(rows, columns),
                drop=_drop(rows),
            )
        )
    return blobs


def _drop(rows: IntArray) -> float:
    top, bottom = int(rows.min()), int(rows.max()) + 1
    return (float(rows.mean()) + 0.5 - top) / (bottom - top)


def _reach(rows: IntArray, columns: IntArray) -> float:
    top, left = int(rows.min()), int(columns.min())
    half_height = (int(rows.max()) + 1 - top) / 2
    half_width = (int(columns.max()) + 1 - left) / 2
    across = (np.abs(columns + 0.5 - left - half_width) + 0.5) / half_width
    down = (np.abs(rows + 0.5 - top - half_height) + 0.5) / half_height
    return float((across + down).max())


def _hull_area(rows: IntArray, columns: IntArray) -> float:
    """Area of the convex hull of the pixels' squares (each pixel a unit square)."""
    points: set[tuple[int, int]] = set()
    for row in np.unique(rows).tolist():
        in_row = columns[rows == row]
        first, last = int(in_row.min()), int(in_row.max()) + 1
        points.update({(first, row), (first, row + 1), (last, row), (last, row + 1)})
    ordered = sorted(points)

    def cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[int, int]] = []
    for point in ordered:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], point) <= 0:
            lower.pop()
        lower.append(point)
    upper: list[tuple[int, int]] = []
    for point in reversed(ordered):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], point) <= 0:
            upper.pop()
        upper.append(point)
    hull = lower[:-1] + upper[:-1]
    twice = sum(
        x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(hull, hull[1:] + hull[:1], strict=True)
    )
    return max(abs(twice) / 2, 1.0)


def _match(expected: list[int], found: list[Blob], things: tuple[Thing, ...]) -> dict[int, Blob]:
    """Pair things of one colour with that colour's blobs, nearest to where each should be;
    things left over get nothing."""
    if not found:
        return {}
    if len(expected) == 1:
        return {expected[0]: found[0]}
    first, second = expected[0], expected[1]
    if len(found) == 1:
        nearer = min(expected, key=lambda i: _distance(found[0], things[i]))
        return {nearer: found[0]}
    straight = _distance(found[0], things[first]) + _distance(found[1], things[second])
    crossed = _distance(found[1], things[first]) + _distance(found[0], things[second])
    if straight <= crossed:
        return {first: found[0], second: found[1]}
    return {first: found[1], second: found[0]}


def _distance(blob: Blob, thing: Thing) -> float:
    x, y = blob.centre
    expected_x, expected_y = centre(thing, SIDE)
    return float(np.hypot(x - expected_x, y - expected_y))
