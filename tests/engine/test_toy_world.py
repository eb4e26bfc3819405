"""The toy world: captions and their parser, renders, and the training/evaluation split."""

import re
from itertools import islice

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image

from engine.toy.captions import (
    ONE_THING_PHRASINGS,
    OPEN_ATTRIBUTES,
    TWO_THING_PHRASINGS,
    caption,
    parse,
    phrasing_count,
    vocabulary,
)
from engine.toy.render import box, centre, drawable, render
from engine.toy.scene import COLOURS, POSITIONS, SHAPES, SIZES, Scene, Thing
from engine.toy.world import (
    HELD_OUT,
    all_single_scenes,
    evaluation_scenes,
    is_held_out,
    training_scenes,
)

CORNERS = ("top left", "top right", "bottom left", "bottom right")


@st.composite
def scenes(draw: st.DrawFn, things: int | None = None, apart: bool = False) -> Scene:
    background = draw(st.sampled_from(list(COLOURS)))
    count = things if things is not None else draw(st.sampled_from([1, 2]))
    colours = [c for c in COLOURS if c != background]
    positions = draw(st.permutations(POSITIONS))[:count]
    made = tuple(
        Thing(
            draw(st.sampled_from(colours)),
            draw(st.sampled_from(SHAPES)),
            draw(st.sampled_from(SIZES)),
            position,
        )
        for position in positions
    )
    scene = Scene(background, made)
    if apart:
        assume(drawable(scene))
    return scene


def pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture, dtype=np.int16)


def exact(picture: Image.Image, colour: str) -> np.ndarray:
    """Where a picture has exactly a named colour."""
    mask: np.ndarray = np.all(pixels(picture) == np.array(COLOURS[colour]), axis=-1)
    return mask


# Captions


@given(scenes(), st.data())
def test_parse_inverts_every_phrasing(scene: Scene, data: st.DataObject) -> None:
    phrasing = data.draw(st.integers(0, phrasing_count(len(scene.things)) - 1))
    assert parse(caption(scene, phrasing)) == scene


@given(scenes())
def test_every_phrasing_names_everything_in_known_words(scene: Scene) -> None:
    words = set(vocabulary())
    for phrasing in range(phrasing_count(len(scene.things))):
        text = caption(scene, phrasing)
        tokens = re.findall(r"[a-z]+|,", text)
        assert " ".join(tokens).replace(" ,", ",") == text
        assert set(tokens) <= words
        assert f"{scene.background} background" in text
        for thing in scene.things:
            for attribute in (thing.colour, thing.shape, thing.size, thing.position):
                assert re.search(rf"\b{attribute}\b", text)


def test_the_phrasings_read_as_promised() -> None:
    one = Scene("blue", (Thing("red", "circle", "small", "top left"),))
    assert [caption(one, k) for k in range(ONE_THING_PHRASINGS)] == [
        "a small red circle in the top left on a blue background",
        "blue background, small red circle in the top left",
        "a red circle, small, at the top left on a blue background",
        "a picture of a small red circle in the top left, blue background",
    ]
    two = Scene(
        "orange",
        (Thing("red", "circle", "small", "left"), Thing("green", "star", "large", "right")),
    )
    both = "a small red circle on the left and a large green star on the right"
    assert [caption(two, k) for k in range(TWO_THING_PHRASINGS)] == [
        f"{both}, orange background",
        f"orange background with {both}",
        f"a picture of {both} on an orange background",
    ]
    orange = Scene("white", (Thing("orange", "star", "large", "centre"),))
    assert caption(orange, 2) == "an orange star, large, at the centre on a white background"


def test_parse_is_kind_to_spelling_and_spacing() -> None:
    scene = Scene("blue", (Thing("red", "circle", "small", "centre"),))
    assert parse("  A small red circle in the CENTER  on an blue background. ") == scene
    assert parse("Blue background ,small red circle at the center") == scene


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a cat on a sofa",
        "a small red circle on a blue background",  # no position
        "a red circle in the top left on a blue background",  # no size
        "a small red circle in the top left",  # no background
        "a small red hexagon in the top left on a blue background",
        "a medium red circle in the top left on a blue background",
        "a small red circle in the middle left on a blue background",
        "a small red circle in the top left on a red background",  # the background's colour
        "a small red circle on the left and a large blue star on the left, white background",
        "a small red circle in the top left on a blue background and more",
    ],
)
def test_parse_refuses_what_is_no_caption(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)


def test_caption_refuses_an_unknown_phrasing() -> None:
    scene = Scene("blue", (Thing("red", "circle", "small", "centre"),))
    with pytest.raises(ValueError):
        caption(scene, ONE_THING_PHRASINGS)


@given(scenes(), st.data())
def test_a_partial_caption_says_all_but_what_it_leaves_out(
    scene: Scene, data: st.DataObject
) -> None:
    phrasing = data.draw(st.integers(0, phrasing_count(len(scene.things)) - 1))
    left_out = data.draw(st.sets(st.sampled_from(OPEN_ATTRIBUTES), min_size=1))
    text = caption(scene, phrasing, left_out)
    tokens = re.findall(r"[a-z]+|,", text)
    assert " ".join(tokens).replace(" ,", ",") == text
    assert set(tokens) <= set(vocabulary())
    said = {
        "background": [f"{scene.background} background"],
        "size": [thing.size for thing in scene.things],
        "colour": [f"{thing.colour} {thing.shape}" for thing in scene.things],
        "position": [f"the {thing.position}" for thing in scene.things],
    }
    for attribute, phrases in said.items():
        for phrase in phrases:
            assert (re.search(rf"\b{phrase}\b", text) is None) == (attribute in left_out), text
    for thing in scene.things:
        assert re.search(rf"\b{thing.shape}\b", text)
    # A partial caption fits many scenes: it is no caption of one scene.
    with pytest.raises(ValueError):
        parse(text)


def test_partial_captions_read_as_promised() -> None:
    one = Scene("blue", (Thing("orange", "circle", "small", "top left"),))
    assert caption(one, 0, {"size"}) == "an orange circle in the top left on a blue background"
    assert caption(one, 1, {"colour"}) == "blue background, small circle in the top left"
    assert caption(one, 2, {"colour", "position"}) == "a circle, small, on a blue background"
    assert caption(one, 2, {"size", "background"}) == "an orange circle at the top left"
    assert caption(one, 3, {"position"}) == "a picture of a small orange circle, blue background"
    two = Scene(
        "white",
        (Thing("red", "circle", "small", "left"), Thing("green", "star", "large", "right")),
    )
    assert caption(two, 1, {"size", "background"}) == (
        "a red circle on the left and a green star on the right"
    )
    with pytest.raises(ValueError, match="shape"):
        caption(one, 0, {"shape"})


def test_a_share_of_training_captions_leaves_attributes_unsaid() -> None:
    full = list(training_scenes(5, 2000))
    partly = list(training_scenes(5, 2000, partial=0.4))

    assert [scene for scene, _ in partly] == [scene for scene, _ in full]
    unsaid = [text for (_, text), (_, whole) in zip(partly, full, strict=True) if text != whole]
    assert 0.35 < len(unsaid) / len(full) < 0.45
    assert all(len(text) < len(whole) for (_, text), (_, whole) in zip(partly, full, strict=True)
               if text != whole)  # fmt: skip
    # Every open attribute is left out of some captions, and said in others.
    for attribute, word in (("size", "small|large"), ("background", "background")):
        assert any(re.search(word, text) is None for text in unsaid), attribute
        assert any(re.search(word, text) for text in unsaid), attribute


def test_vocabulary_is_small_and_complete() -> None:
    words = vocabulary()
    assert len(words) == len(set(words)) < 40
    assert {"center", "centre", ","} <= set(words)
    assert set(COLOURS) | set(SHAPES) | set(SIZES) <= set(words)


# Renders


@given(scenes(apart=True))
def test_renders_have_exact_colours_inside_things_and_background(scene: Scene) -> None:
    picture = render(scene)
    assert picture.mode == "RGB"
    assert picture.size == (64, 64)
    array = pixels(picture)
    for thing in scene.things:
        x, y = centre(thing)
        assert tuple(array[int(y), int(x)]) == COLOURS[thing.colour]
    for x, y in ((0, 0), (63, 0), (0, 63), (63, 63)):
        assert tuple(array[y, x]) == COLOURS[scene.background]


@pytest.mark.parametrize("shape", SHAPES)
def test_large_things_are_clearly_larger_than_small_ones(shape: str) -> None:
    def area_and_width(size: str) -> tuple[int, int]:
        mask = exact(render(Scene("white", (Thing("red", shape, size, "centre"),))), "red")
        columns = np.flatnonzero(mask.any(axis=0))
        return int(mask.sum()), int(columns[-1] - columns[0] + 1)

    small_area, small_width = area_and_width("small")
    large_area, large_width = area_and_width("large")
    assert large_area > 2.5 * small_area
    assert 12 <= small_width <= 18
    assert 24 <= large_width <= 34


@given(scenes(things=2, apart=True))
def test_two_things_never_touch(scene: Scene) -> None:
    picture = pixels(render(scene))
    # Each thing drawn alone on the background changes its own pixels only, and the two-thing
    # picture is exactly both of them together: they share no pixel, not even an edge pixel.
    alone = [pixels(render(Scene(scene.background, (thing,)))) for thing in scene.things]
    plain = np.array(COLOURS[scene.background], dtype=np.int16)
    changed = [np.any(one != plain, axis=-1) for one in alone]
    assert not np.any(changed[0] & changed[1])
    combined = np.where(changed[0][..., None], alone[0], alone[1])
    assert np.array_equal(picture, combined)


def test_a_two_thing_picture_counts_each_colour_as_drawn_alone() -> None:
    first = Thing("red", "circle", "large", "top left")
    second = Thing("yellow", "star", "large", "bottom right")
    both = render(Scene("blue", (first, second)))
    for thing in (first, second):
        alone = render(Scene("blue", (thing,)))
        assert exact(both, thing.colour).sum() == exact(alone, thing.colour).sum() > 150


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("corner", CORNERS)
def test_large_things_in_corners_stay_inside(shape: str, corner: str) -> None:
    thing = Thing("black", shape, "large", corner)
    mask = ~exact(render(Scene("white", (thing,))), "white")
    assert mask.sum() > 200
    assert not mask[0].any() and not mask[-1].any()
    assert not mask[:, 0].any() and not mask[:, -1].any()
    left, top, right, bottom = box(thing)
    assert min(left, top) > 0 and max(right, bottom) < 64


def test_positions_put_things_in_their_cells() -> None:
    for position in POSITIONS:
        mask = exact(render(Scene("white", (Thing("red", "square", "small", position),))), "red")
        ys, xs = np.nonzero(mask)
        x, y = centre(Thing("red", "square", "small", position))
        assert abs(xs.mean() + 0.5 - x) < 1 and abs(ys.mean() + 0.5 - y) < 1
    assert centre(Thing("red", "circle", "small", "left")) == (16, 32)
    assert centre(Thing("red", "circle", "small", "top")) == (32, 16)
    assert centre(Thing("red", "circle", "small", "bottom right")) == (48, 48)


def test_renders_are_deterministic_and_scale() -> None:
    scene = Scene("purple", (Thing("orange", "triangle", "large", "centre"),))
    assert render(scene).tobytes() == render(scene).tobytes()
    assert render(scene, 128).size == (128, 128)


def test_neighbouring_things_are_not_drawable() -> None:
    scene = Scene(
        "white",
        (Thing("red", "circle", "small", "left"), Thing("blue", "circle", "small", "centre")),
    )
    assert not drawable(scene)
    with pytest.raises(ValueError):
        render(scene)
    far = Scene(
        "white",
        (Thing("red", "square", "large", "left"), Thing("blue", "square", "large", "right")),
    )
    assert drawable(far)


# The split


def test_all_single_scenes() -> None:
    singles = all_single_scenes()
    assert len(singles) == len(set(singles)) == 8 * 7 * 4 * 2 * 9


def test_the_held_out_triples_are_about_a_tenth_and_leave_every_pair_in_training() -> None:
    triples = {(s.things[0].colour, s.things[0].shape, s.background) for s in all_single_scenes()}
    assert len(triples) == 224
    assert triples > HELD_OUT
    assert 18 <= len(HELD_OUT) <= 26
    training = triples - HELD_OUT
    for index_a, index_b in ((0, 1), (0, 2), (1, 2)):
        pairs = {(t[index_a], t[index_b]) for t in triples}
        assert pairs == {(t[index_a], t[index_b]) for t in training}


def test_is_held_out() -> None:
    colour, shape, background = sorted(HELD_OUT)[0]
    held = Thing(colour, shape, "small", "left")
    assert is_held_out(Scene(background, (held,)))
    other = next(
        Thing(c, s, "large", "right")
        for c in COLOURS
        for s in SHAPES
        if c != background and (c, s, background) not in HELD_OUT
    )
    assert not is_held_out(Scene(background, (other,)))
    assert is_held_out(Scene(background, (other, held)))


@pytest.mark.parametrize("seed", [0, 1, 7, 1234])
def test_training_never_shows_held_out_scenes(seed: int) -> None:
    evaluation = {text for _, text in evaluation_scenes(2000, seed=seed)}
    shown = list(training_scenes(seed, 3000))
    assert len(shown) == 3000
    for scene, text in shown:
        assert not is_held_out(scene)
        assert text not in evaluation
        assert parse(text) == scene
        render(scene)  # drawable
    twos = sum(len(scene.things) == 2 for scene, _ in shown)
    assert 0.25 < twos / len(shown) < 0.35
    assert all(
        scene.things[0].colour != scene.things[1].colour
        for scene, _ in shown
        if len(scene.things) == 2
    )


def test_training_is_deterministic_and_endless() -> None:
    assert list(training_scenes(3, 50)) == list(training_scenes(3, 50))
    assert list(training_scenes(3, 50)) != list(training_scenes(4, 50))
    assert list(islice(training_scenes(3), 50)) == list(training_scenes(3, 50))


def test_evaluation_draws_many_distinct_held_out_captions() -> None:
    drawn = evaluation_scenes(500, seed=2)
    assert drawn == evaluation_scenes(500, seed=2)
    assert len({text for _, text in drawn}) == 500
    for scene, text in drawn:
        assert is_held_out(scene)
        assert parse(text) == scene
        render(scene)
    singles = [s for s in all_single_scenes() if is_held_out(s)]
    assert len({caption(s, k) for s in singles for k in range(ONE_THING_PHRASINGS)}) >= 200
