"""Simulated people of the loop demo: their tastes measure what they claim to, and their clicks
follow their taste (or, for the control, nothing at all)."""

from __future__ import annotations

import re
from collections import Counter
from itertools import islice

import pytest
from PIL import Image, ImageDraw

from bot.lab.loop.people import Reroll, SimulatedPerson, Upscale
from bot.lab.loop.taste import TASTES, coverage, redness, smallness
from engine.toy.render import render
from engine.toy.scene import COLOURS, SHAPES, SIZES, Scene, Thing


def picture(colour: str = "red", size: str = "small", background: str = "blue") -> Image.Image:
    return render(Scene(background, (Thing(colour, "square", size, "centre"),)))


def test_coverage_is_the_share_of_the_picture_a_thing_covers() -> None:
    empty = Image.new("RGB", (64, 64), (0, 0, 255))
    small, large = coverage(picture(size="small")), coverage(picture(size="large"))

    assert coverage(empty) == 0
    # The renderer's squares are 16 and 28 pixels across in a 64-pixel picture.
    assert small == pytest.approx(16 * 16 / 64**2, rel=0.25)
    assert large == pytest.approx(28 * 28 / 64**2, rel=0.25)


def test_a_spoiled_picture_is_not_a_larger_one() -> None:
    """A tuned model must not please people who like things large by spoiling its pictures."""
    clean = picture(size="small")
    framed = clean.copy()
    ImageDraw.Draw(framed).rectangle((0, 0, 63, 63), outline=(255, 255, 255), width=4)
    smeared = clean.copy()
    ImageDraw.Draw(smeared).rectangle((0, 48, 63, 63), fill=COLOURS["yellow"])

    # The frame becomes the background, the old background a thing bigger than any scene has.
    assert coverage(framed) == 0
    # A band of colour running into the edge is no thing; the square still counts.
    assert coverage(smeared) == pytest.approx(coverage(clean))


def test_smallness_mirrors_coverage_and_nothing_drawn_pleases_no_one() -> None:
    empty = Image.new("RGB", (64, 64), (0, 0, 255))
    small, large = picture(size="small"), picture(size="large")

    assert smallness(small) > smallness(large) > smallness(empty) == 0
    smaller = SimulatedPerson("sam", TASTES["smaller"], seed=0)
    chosen = Counter(
        smaller.judge([large, small, large, large], may_reroll=False) for _ in range(200)
    )
    assert chosen[Upscale(2)] > 150


def test_redness_rises_with_red_and_ignores_other_colours() -> None:
    on_black = {c: redness(picture(c, "large", "black")) for c in ("red", "orange", "blue")}

    assert on_black["red"] > on_black["orange"] > on_black["blue"] == 0
    assert redness(picture("red", "large", "black")) > redness(picture("red", "small", "black"))


def test_a_person_with_a_taste_mostly_upscales_the_picture_it_favours() -> None:
    person = SimulatedPerson("ann", TASTES["larger"], seed=0)
    grid = [picture(size="small")] * 4
    chosen: Counter[int] = Counter()
    for trial in range(200):
        big = trial % 4
        pictures = [picture(size="large") if i == big else grid[i] for i in range(4)]
        decision = person.judge(pictures, may_reroll=False)
        assert isinstance(decision, Upscale)
        chosen[decision.index - 1 == big] += 1

    assert chosen[True] >= 180  # chance would be 50 of 200


def test_a_close_call_is_a_coin_toss_not_always_the_first_picture() -> None:
    person = SimulatedPerson("ann", TASTES["larger"], seed=0)
    same = [picture()] * 4
    positions = Counter(
        decision.index
        for decision in (person.judge(same, may_reroll=False) for _ in range(400))
        if isinstance(decision, Upscale)
    )

    assert set(positions) == {1, 2, 3, 4}
    assert all(60 <= count <= 140 for count in positions.values()), positions


def test_a_disappointing_grid_is_rerolled_only_while_a_reroll_is_allowed() -> None:
    person = SimulatedPerson("ann", TASTES["larger"], seed=0)
    empty = [Image.new("RGB", (64, 64), (0, 0, 255))] * 4
    large = [picture(size="large")] * 4

    rerolled = sum(isinstance(person.judge(empty, may_reroll=True), Reroll) for _ in range(100))
    kept = sum(isinstance(person.judge(large, may_reroll=True), Reroll) for _ in range(100))
    never = {type(person.judge(empty, may_reroll=False)) for _ in range(50)}

    assert rerolled >= 80 and kept <= 5
    assert never == {Upscale}


def test_a_person_without_taste_clicks_every_position_alike() -> None:
    person = SimulatedPerson("control", None, seed=0)
    pictures = [picture(size="large"), picture(), picture(), picture()]
    decisions = [person.judge(pictures, may_reroll=True) for _ in range(800)]
    positions = Counter(d.index for d in decisions if isinstance(d, Upscale))
    rerolls = sum(isinstance(d, Reroll) for d in decisions)

    # The large picture is no likelier than the others; each position gets about a quarter.
    assert all(130 <= count <= 210 for count in positions.values()), positions
    assert 70 <= rerolls <= 170


def test_the_upscaled_picture_is_loved_disliked_or_left_by_how_well_it_pleases() -> None:
    person = SimulatedPerson("ann", TASTES["larger"], seed=0)
    large, small = picture(size="large"), picture(size="small")
    empty = Image.new("RGB", (64, 64), (0, 0, 255))

    on_large = Counter(person.react(large) for _ in range(100))
    on_empty = Counter(person.react(empty) for _ in range(100))
    on_small = Counter(person.react(small) for _ in range(100))

    assert on_large["❤️"] >= 75 and on_large["👎"] == 0
    assert on_empty["👎"] >= 90 and on_empty["❤️"] == 0
    # A small square (6% of the picture) is hardly ever what someone who likes things large
    # hoped for.
    assert coverage(small) < TASTES["larger"].love_above
    assert on_small["❤️"] <= 5


def test_a_person_without_taste_reacts_at_random() -> None:
    person = SimulatedPerson("control", None, seed=0)
    reactions = Counter(person.react(picture(size="large")) for _ in range(1000))

    assert 140 <= reactions["❤️"] <= 260 and 140 <= reactions["👎"] <= 260


@pytest.mark.parametrize("taste", sorted(TASTES))
def test_people_leave_what_their_taste_is_about_to_the_model(taste: str) -> None:
    from bot.lab.loop.demo import prompts

    leaves_open = TASTES[taste].leaves_open
    asked = list(islice(prompts(0, leaves_open), 200))

    assert len(set(asked)) > 150
    for prompt in asked:
        for shape in SHAPES:
            named = re.findall(rf"(\w+) {shape}\b", prompt)
            if leaves_open == "size":
                assert not set(named) & set(SIZES), prompt
                assert not re.search(r"\b(small|large)\b", prompt), prompt
            else:
                assert not set(named) & set(COLOURS), prompt


def test_a_rate_answer_follows_the_taste_and_the_control_answers_at_random() -> None:
    small, large = picture(size="small"), picture(size="large")
    larger = SimulatedPerson("lee", TASTES["larger"], seed=0)
    anyone = SimulatedPerson("ray", None, seed=0)

    # Left is the large one half the time: the answer follows the picture, not the side.
    chose_large = sum(
        larger.prefer(large, small) if n % 2 else not larger.prefer(small, large)
        for n in range(200)
    )
    random_left = sum(anyone.prefer(large, small) for _ in range(200))

    assert chose_large > 180
    assert 70 < random_left < 130
