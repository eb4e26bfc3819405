"""Captions of toy scenes, and the way back from a caption to its scene.

A caption always names the background and every thing's size, colour, shape and position, so it
determines its scene: ``parse(caption(scene, k)) == scene`` for every scene and phrasing ``k``.
Things are named in the order of ``scene.things``.

One thing, four phrasings (:data:`ONE_THING_PHRASINGS`)::

    0  a small red circle in the top left on a blue background
    1  blue background, small red circle in the top left
    2  a red circle, small, at the top left on a blue background
    3  a picture of a small red circle in the top left, blue background

Two things, three phrasings (:data:`TWO_THING_PHRASINGS`)::

    0  a small red circle on the left and a large green star on the right, white background
    1  white background with a small red circle on the left and a large green star on the right
    2  a picture of a small red circle on the left and a large green star on the right on a
       white background

**Partial captions** leave some attributes unsaid (``caption(scene, k, leave_out={"size"})``:
"a red circle in the top left on a blue background"): any of :data:`OPEN_ATTRIBUTES` (every
thing's size, colour or position, or the background). Such a caption fits many scenes, so a
model trained on some of them learns to draw any of those scenes for it, and a grid of four
seeds shows four different pictures. ``parse`` reads full captions only.

Positions read "in the centre", "on the left"/"on the right", "at the top"/"at the bottom" and
"in the top left" (any corner); phrasing 2 of one thing says "at the ..." for every position.
``parse`` is a little kinder than ``caption`` is strict: it ignores case, extra spaces and a
final full stop, reads "center" as "centre", takes "a" or "an" and any of in/on/at before a
position; anything else is refused with ValueError.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from engine.toy.scene import COLOURS, POSITIONS, SHAPES, SIZES, Scene, Thing

ONE_THING_PHRASINGS = 4
OPEN_ATTRIBUTES = ("size", "colour", "position", "background")
"""What a partial caption may leave unsaid."""
TWO_THING_PHRASINGS = 3

_WORDS = ("a", "an", "of", "picture", "background", "with", "and", "in", "on", "at", "the")


def phrasing_count(things: int) -> int:
    """How many phrasings there are for a scene of one or of two things."""
    if things == 1:
        return ONE_THING_PHRASINGS
    if things == 2:
        return TWO_THING_PHRASINGS
    raise ValueError("a scene holds one or two things")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _where(position: str) -> str:
    if position == "centre":
        return "in the centre"
    if position in ("left", "right"):
        return f"on the {position}"
    if position in ("top", "bottom"):
        return f"at the {position}"
    return f"in the {position}"


def _thing(thing: Thing, leave_out: frozenset[str]) -> str:
    """ "a small red circle in the top left", without the attributes left out"""
    words = [getattr(thing, name) for name in ("size", "colour") if name not in leave_out]
    words.append(thing.shape)
    where = "" if "position" in leave_out else f" {_where(thing.position)}"
    return f"{_article(words[0])} {' '.join(words)}{where}"


def _without_article(phrase: str) -> str:
    return phrase.split(" ", 1)[1]


def caption(scene: Scene, phrasing: int, leave_out: Collection[str] = ()) -> str:
    """The caption of a scene in one of its phrasings, ``0 <= phrasing <
    phrasing_count(len(scene.things))``, saying nothing of the attributes in `leave_out`
    (any of :data:`OPEN_ATTRIBUTES`)."""
    if not 0 <= phrasing < phrasing_count(len(scene.things)):
        raise ValueError(f"no phrasing {phrasing} for {len(scene.things)} thing(s)")
    unknown = set(leave_out) - set(OPEN_ATTRIBUTES)
    if unknown:
        raise ValueError(f"only {', '.join(OPEN_ATTRIBUTES)} can be left out, not {unknown}")
    left_out = frozenset(leave_out)
    background = scene.background
    said = "background" not in left_out
    on_background = f" on {_article(background)} {background} background" if said else ""
    if len(scene.things) == 1:
        (thing,) = scene.things
        one = _thing(thing, left_out)
        if phrasing == 0:
            return f"{one}{on_background}"
        if phrasing == 1:
            return f"{background} background, {_without_article(one)}" if said else one
        if phrasing == 2:
            colour = "" if "colour" in left_out else f" {thing.colour}"
            named = f"{_article((colour or thing.shape).strip())}{colour} {thing.shape}"
            size = "" if "size" in left_out else f", {thing.size},"
            where = "" if "position" in left_out else f" at the {thing.position}"
            return f"{named}{size}{where}{on_background}".removesuffix(",")
        return f"a picture of {one}" + (f", {background} background" if said else "")
    both = " and ".join(_thing(thing, left_out) for thing in scene.things)
    if phrasing == 0:
        return f"{both}, {background} background" if said else both
    if phrasing == 1:
        return f"{background} background with {both}" if said else both
    return f"a picture of {both}{on_background}"


def _choice(words: tuple[str, ...] | list[str]) -> str:
    # Longest first, so that "top left" wins over "top".
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


_COLOUR = _choice(list(COLOURS))
_A = "an?"


def _thing_pattern(index: int) -> str:
    return (
        f"{_A} (?P<size{index}>{_choice(SIZES)}) (?P<colour{index}>{_COLOUR}) "
        f"(?P<shape{index}>{_choice(SHAPES)}) (?:in|on|at) the (?P<position{index}>"
        f"{_choice(POSITIONS)})"
    )


_BACKGROUND = f"(?P<background>{_COLOUR})"
_ON_BACKGROUND = f"on {_A} {_BACKGROUND} background"
_ONE = _thing_pattern(0)
_BOTH = f"{_thing_pattern(0)} and {_thing_pattern(1)}"
_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (1, re.compile(f"{_ONE} {_ON_BACKGROUND}")),
    (1, re.compile(f"{_BACKGROUND} background, {_ONE[len(_A) + 1 :]}")),
    (
        1,
        re.compile(
            f"{_A} (?P<colour0>{_COLOUR}) (?P<shape0>{_choice(SHAPES)}), "
            f"(?P<size0>{_choice(SIZES)}), (?:in|on|at) the (?P<position0>{_choice(POSITIONS)}) "
            f"{_ON_BACKGROUND}"
        ),
    ),
    (1, re.compile(f"a picture of {_ONE}, {_BACKGROUND} background")),
    (2, re.compile(f"{_BOTH}, {_BACKGROUND} background")),
    (2, re.compile(f"{_BACKGROUND} background with {_BOTH}")),
    (2, re.compile(f"a picture of {_BOTH} {_ON_BACKGROUND}")),
]


def _normalise(text: str) -> str:
    text = text.strip().lower().removesuffix(".")
    text = re.sub(r"\s*,\s*", ", ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\bcenter\b", "centre", text)


def parse(text: str) -> Scene:
    """The scene a caption describes; ValueError for text that is no caption of a scene."""
    normal = _normalise(text)
    for count, pattern in _PATTERNS:
        match = pattern.fullmatch(normal)
        if match is None:
            continue
        things = tuple(
            Thing(
                colour=match[f"colour{index}"],
                shape=match[f"shape{index}"],
                size=match[f"size{index}"],
                position=match[f"position{index}"],
            )
            for index in range(count)
        )
        return Scene(background=match["background"], things=things)
    raise ValueError(f"not a caption of a toy scene: {text!r}")


def vocabulary() -> list[str]:
    """Every token captions are made of, sorted: their words, "center" (which people write and
    parse accepts) and the comma."""
    words = set(_WORDS) | set(COLOURS) | set(SHAPES) | set(SIZES) | {",", "center"}
    for position in POSITIONS:
        words.update(position.split())
    return sorted(words)
