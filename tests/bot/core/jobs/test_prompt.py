"""The prompt parser: what people type is honoured exactly or refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.jobs.prompt import (
    MAX_SEED,
    ParsedPrompt,
    PromptError,
    PromptLimits,
    parse_prompt,
    size_for_aspect,
)

LIMITS = PromptLimits(max_steps=60, max_guidance=30.0)


def test_plain_prompt_has_no_parameters() -> None:
    assert parse_prompt("  a lighthouse   at dusk ", LIMITS) == ParsedPrompt(
        prompt="a lighthouse at dusk"
    )


def test_every_parameter_is_read() -> None:
    parsed = parse_prompt(
        "a lighthouse at dusk --ar 16:9 --seed 42 --no fog,  boats"
        " --steps 30 --cfg 6.5 --model sdxl --chaos 40 --tile",
        LIMITS,
    )
    assert parsed == ParsedPrompt(
        prompt="a lighthouse at dusk",
        negative_prompt="fog, boats",
        aspect=(16, 9),
        seed=42,
        steps=30,
        guidance=6.5,
        model="sdxl",
        chaos=40,
        tile=True,
    )


def test_aliases_and_phone_dashes_are_accepted() -> None:
    parsed = parse_prompt("a cat \u2014aspect 2:3 \u2013guidance 4 --c 7", LIMITS)
    assert parsed.aspect == (2, 3)
    assert parsed.guidance == 4.0
    assert parsed.chaos == 7


@pytest.mark.parametrize(
    ("text", "message_part"),
    [
        ("", "empty"),
        ("--ar 16:9", "empty"),
        ("a cat --size 3", "Unknown parameter --size"),
        ("a cat --ar 5:1", "1:4 to 4:1"),
        ("a cat --ar 16x9", "W:H"),
        ("a cat --ar 0:3", "above zero"),
        ("a cat --steps 0", "from 1 to 60"),
        ("a cat --steps 61", "from 1 to 60"),
        ("a cat --steps ten", "whole number"),
        ("a cat --seed -1", "whole number"),
        (f"a cat --seed {MAX_SEED + 1}", "out of range"),
        ("a cat --cfg 31", "from 0 to 30"),
        ("a cat --cfg nan", "number"),
        ("a cat --seed 1 --seed 2", "twice"),
        ("a cat --ar 1:1 on a mat", "end of the prompt"),
        ("a cat --seed", "needs a value"),
        ("a cat --ar:1:1", "Cannot read"),
        ("a cat --model ../../etc", "model name"),
        ("x" * 4001, "at most 4000"),
        ("a cat --chaos 101", "from 0 to 100"),
        ("a cat --chaos lots", "whole number"),
        ("a cat --tile 2", "--tile takes no value"),
    ],
)
def test_bad_input_is_refused_with_what_is_allowed(text: str, message_part: str) -> None:
    with pytest.raises(PromptError, match=message_part.replace("(", r"\(")):
        parse_prompt(text, LIMITS)


@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_with_a_message(text: str) -> None:
    try:
        parsed = parse_prompt(text, LIMITS)
    except PromptError as error:
        assert str(error)
    else:
        assert parsed.prompt and parsed.prompt == parsed.prompt.strip()


flag_words = st.sampled_from(
    ["--ar", "--seed", "--no", "--steps", "--cfg", "--model", "--", "\u2014"]
)


@given(st.lists(st.one_of(flag_words, st.text(min_size=1, max_size=12)), max_size=12))
def test_parameter_soup_parses_or_is_refused(tokens: list[str]) -> None:
    try:
        parse_prompt("a cat " + " ".join(tokens), LIMITS)
    except PromptError as error:
        assert str(error)


@given(
    seed=st.integers(0, MAX_SEED),
    steps=st.integers(1, LIMITS.max_steps),
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    guidance=st.decimals(0, 30, places=2).map(str),
)
def test_valid_parameters_round_trip(
    seed: int, steps: int, width: int, height: int, guidance: str
) -> None:
    if not 1 / 4 <= width / height <= 4:
        return
    parsed = parse_prompt(
        f"a red fox --seed {seed} --steps {steps} --ar {width}:{height} --cfg {guidance}", LIMITS
    )
    assert (parsed.seed, parsed.steps, parsed.aspect) == (seed, steps, (width, height))
    assert parsed.guidance == float(guidance)


def test_square_is_the_native_size() -> None:
    assert size_for_aspect(None, 512, 512, 64) == (512, 512)
    assert size_for_aspect((1, 1), 64, 64, 16) == (64, 64)


@given(st.integers(1, 4), st.integers(1, 4), st.sampled_from([(64, 16), (512, 64), (1024, 64)]))
def test_sizes_keep_the_ratio_on_the_models_grid(w: int, h: int, native: tuple[int, int]) -> None:
    side, multiple = native
    width, height = size_for_aspect((w, h), side, side, multiple)
    assert width % multiple == 0 and height % multiple == 0
    assert width >= multiple and height >= multiple
    # Rounding to the grid may move the ratio, but never flip its orientation.
    assert (width >= height) == (w >= h) or (width == height)
    assert 0.5 * side * side <= width * height <= 1.6 * side * side
