"""The toy data set: which scenes exist, which are kept for training and which for evaluation.

**Scenes.** One thing (any colour, shape, size and position on any background of another
colour: :func:`all_single_scenes`, 4,032 of them) or two things (different colours, neither the
background's, in cells that are not neighbours so that they never touch; see
:func:`engine.toy.render.drawable`).

**The held-out split.** The unit held out is a *triple* (colour, shape, background): "a red
star on blue", whatever its size and position. :data:`HELD_OUT` holds 22 of the 224 triples
(about 10%), picked deterministically: triples are ordered by the SHA-256 of
``"colour/shape/background"`` and taken in that order, skipping any triple whose removal would
leave some (colour, shape), (colour, background) or (shape, background) pair with no training
triple at all. So every pair is seen in training and only its combination with the third
attribute is new: evaluation measures composition, not unseen words. A scene is held out
(:func:`is_held_out`) when any of its things' triples is.

**Training** (:func:`training_scenes`) draws random scenes that are never held out (70% one
thing, 30% two), each with a random phrasing of its caption; the same seed gives the same
stream. **Evaluation** (:func:`evaluation_scenes`) draws distinct captions of held-out scenes
only: one-thing scenes of a held-out triple (1,584 captions) and two-thing scenes where at least
one thing's triple is held out.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Collection, Iterator

from engine.toy.captions import OPEN_ATTRIBUTES, caption, phrasing_count
from engine.toy.render import drawable
from engine.toy.scene import COLOURS, POSITIONS, SHAPES, SIZES, Scene, Thing

Triple = tuple[str, str, str]
"""(colour, shape, background)"""

HELD_OUT_COUNT = 22
TWO_THING_SHARE = 0.3


def _all_triples() -> list[Triple]:
    return [
        (colour, shape, background)
        for colour in COLOURS
        for shape in SHAPES
        for background in COLOURS
        if background != colour
    ]


def _digest(triple: Triple) -> str:
    return hashlib.sha256("/".join(triple).encode()).hexdigest()


def _pairs(triple: Triple) -> tuple[tuple[str, str, str], ...]:
    colour, shape, background = triple
    return (("cs", colour, shape), ("cb", colour, background), ("sb", shape, background))


def _choose_held_out() -> frozenset[Triple]:
    triples = _all_triples()
    training_left: dict[tuple[str, str, str], int] = {}
    for triple in triples:
        for pair in _pairs(triple):
            training_left[pair] = training_left.get(pair, 0) + 1
    chosen: set[Triple] = set()
    for triple in sorted(triples, key=_digest):
        if len(chosen) == HELD_OUT_COUNT:
            break
        if all(training_left[pair] > 1 for pair in _pairs(triple)):
            chosen.add(triple)
            for pair in _pairs(triple):
                training_left[pair] -= 1
    return frozenset(chosen)


HELD_OUT: frozenset[Triple] = _choose_held_out()
"""The (colour, shape, background) triples never seen in training."""

# Ordered pairs of positions two things can take without touching (cells not neighbours).
_APART: tuple[tuple[str, str], ...] = tuple(
    (first, second)
    for first, second in itertools.permutations(POSITIONS, 2)
    if drawable(
        Scene(
            "white",
            (Thing("red", "square", "large", first), Thing("blue", "square", "large", second)),
        )
    )
)


def triple(thing: Thing, background: str) -> Triple:
    """The (colour, shape, background) triple a thing on a background makes."""
    return thing.colour, thing.shape, background


def is_held_out(scene: Scene) -> bool:
    """Whether any thing of the scene makes a held-out triple with its background."""
    return any(triple(thing, scene.background) in HELD_OUT for thing in scene.things)


def all_single_scenes() -> list[Scene]:
    """Every scene of one thing, in a fixed order."""
    return [
        Scene(background, (Thing(colour, shape, size, position),))
        for background in COLOURS
        for colour in COLOURS
        if colour != background
        for shape in SHAPES
        for size in SIZES
        for position in POSITIONS
    ]


def _thing(rng: random.Random, background: str, avoid: str, held_out: bool | None) -> Thing:
    """A random thing on ``background`` of a colour other than ``avoid``; ``held_out`` says
    whether its triple must be held out (True), must not be (False) or may be either (None)."""
    while True:
        colour = rng.choice([c for c in COLOURS if c not in (background, avoid)])
        shape = rng.choice(SHAPES)
        inside = (colour, shape, background) in HELD_OUT
        if held_out is None or inside == held_out:
            return Thing(colour, shape, rng.choice(SIZES), rng.choice(POSITIONS))


def _two(rng: random.Random, first: Thing, second: Thing, background: str) -> Scene:
    positions = rng.choice(_APART)
    things = [
        Thing(first.colour, first.shape, first.size, positions[0]),
        Thing(second.colour, second.shape, second.size, positions[1]),
    ]
    rng.shuffle(things)
    return Scene(background, tuple(things))


def captioned(
    rng: random.Random, scene: Scene, leave_out: Collection[str] = ()
) -> tuple[Scene, str]:
    """The scene with its caption in a phrasing drawn from `rng`, leaving out `leave_out`."""
    return scene, caption(scene, rng.randrange(phrasing_count(len(scene.things))), leave_out)


def unsaid(rng: random.Random) -> frozenset[str]:
    """What a partial caption leaves out: each open attribute with even odds, at least one."""
    while True:
        left_out = frozenset(name for name in OPEN_ATTRIBUTES if rng.random() < 0.5)
        if left_out:
            return left_out


def _training_scene(rng: random.Random) -> Scene:
    background = rng.choice(list(COLOURS))
    first = _thing(rng, background, background, held_out=False)
    if rng.random() >= TWO_THING_SHARE:
        return Scene(background, (first,))
    second = _thing(rng, background, first.colour, held_out=False)
    return _two(rng, first, second, background)


def training_scenes(
    seed: int, n: int | None = None, partial: float = 0.0
) -> Iterator[tuple[Scene, str]]:
    """Random training scenes with a caption each: ``n`` of them, or endlessly for None.

    Never a held-out scene; one thing 70% of the time, two 30%; the same seed, the same stream.
    A share `partial` of the captions leave some attributes unsaid (:func:`unsaid`); they are
    drawn apart from the scenes, so the scenes and phrasings of a seed are the same whatever
    the share.
    """
    rng = random.Random(f"toy-train-{seed}")
    partial_rng = random.Random(f"toy-partial-{seed}")
    count = itertools.count() if n is None else range(n)
    for _ in count:
        scene = _training_scene(rng)
        leave_out = unsaid(partial_rng) if partial_rng.random() < partial else frozenset()
        yield captioned(rng, scene, leave_out)


def _held_out_triples() -> list[Triple]:
    return sorted(HELD_OUT)


def _evaluation_scene(rng: random.Random) -> Scene:
    colour, shape, background = rng.choice(_held_out_triples())
    first = Thing(colour, shape, rng.choice(SIZES), rng.choice(POSITIONS))
    if rng.random() >= TWO_THING_SHARE:
        return Scene(background, (first,))
    second = _thing(rng, background, colour, held_out=None)
    return _two(rng, first, second, background)


def evaluation_scenes(n: int, seed: int = 0) -> list[tuple[Scene, str]]:
    """``n`` held-out scenes with distinct captions (one thing 70% of the time, two 30%),
    the same for the same seed. Raises ValueError if ``n`` is over 10,000."""
    if not 0 <= n <= 10_000:
        raise ValueError(f"between 0 and 10000 evaluation scenes, not {n}")
    rng = random.Random(f"toy-eval-{seed}")
    chosen: list[tuple[Scene, str]] = []
    seen: set[str] = set()
    while len(chosen) < n:
        scene, text = captioned(rng, _evaluation_scene(rng))
        if text not in seen:
            seen.add(text)
            chosen.append((scene, text))
    return chosen
