"""Midjourney-style prompts: ``a lighthouse at dusk --ar 16:9 --seed 7 --no fog, boats``.

Parameters follow the prompt text. Anything the parser cannot honour exactly is refused with a
message that says what is allowed: a person should never get a picture made from settings other
than the ones they typed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

from bot.core.errors import UserError
from bot.core.jobs.image_prompts import LARGEST_IMAGE_WEIGHT
from bot.core.models.profiles import ProfileWanted
from engine import prompt_weights

MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARACTERS = 4000
MAX_ASPECT = Fraction(4, 1)
MIN_ASPECT = Fraction(1, 4)

# Phones and Discord's own editor turn "--" into an em or en dash; Midjourney accepts both.
_FLAG_START = re.compile(r"(?:(?<=\s)|^)(?:--|\u2014|\u2013)(?=[A-Za-z])")
_FLAG_TOKEN = re.compile(r"^(?:--|\u2014|\u2013)([A-Za-z][A-Za-z0-9_-]*)$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")

_FLAG_ALIASES = {
    "ar": "ar",
    "aspect": "ar",
    "seed": "seed",
    "no": "no",
    "steps": "steps",
    "cfg": "cfg",
    "guidance": "cfg",
    "model": "model",
    "p": "p",
    "profile": "p",
    "personalize": "p",
    "chaos": "chaos",
    "c": "chaos",
    "tile": "tile",
    "iw": "iw",
}
ALLOWED_FLAGS = (
    "--ar W:H, --seed N, --no a, b, --steps N, --cfg F (or --guidance F), --model NAME, "
    "--p [CODE | server | off], --chaos 0-100 (or --c), --tile, --iw 0-3 (with an image prompt)"
)
# Flags that may stand alone: --p on its own asks for the person's own profile.
_VALUE_OPTIONAL = frozenset({"p", "tile"})
# Share codes (bot.core.models.profiles makes them): lowercase letters and digits.
SHARE_CODE = re.compile(r"^[a-z0-9]{8}$")


class PromptError(UserError, ValueError):
    """A prompt that cannot be honoured as typed; the message is meant for the person."""


@dataclass(frozen=True)
class PromptLimits:
    max_steps: int
    max_guidance: float


@dataclass(frozen=True)
class ParsedPrompt:
    prompt: str
    negative_prompt: str = ""
    aspect: tuple[int, int] | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    model: str | None = None
    profile: ProfileWanted | None = None
    chaos: int | None = None
    tile: bool = False
    # --iw: how much an image prompt counts (bot.core.jobs.image_prompts).
    image_weight: float | None = None


def parse_prompt(text: str, limits: PromptLimits, *, images: int = 0) -> ParsedPrompt:
    """Split ``text`` into the prompt and its parameters, or raise PromptError. With
    ``images`` (image prompts given beside it) the text may be parameters alone, and --iw
    weighs them."""
    if len(text) > MAX_PROMPT_CHARACTERS:
        raise PromptError(
            f"The prompt is {len(text)} characters; at most {MAX_PROMPT_CHARACTERS} are allowed."
        )
    first_flag = _FLAG_START.search(text)
    body = text if first_flag is None else text[: first_flag.start()]
    prompt = " ".join(body.split())
    # Zero-width spaces, joiners and marks alone say nothing, though str.split keeps them.
    if not any(unicodedata.category(char)[0] in "LNPS" for char in prompt):
        if not images:
            raise PromptError("The prompt is empty: describe the image before any --parameters.")
        prompt = ""  # the pictures say it all
    try:
        prompt_weights.check(prompt)
    except prompt_weights.PromptWeightError as error:
        raise PromptError(str(error)) from None
    values = _split_flags(text[first_flag.start() :] if first_flag else "")
    fields: dict[str, object] = {}
    for flag, value in values.items():
        if flag == "ar":
            fields["aspect"] = _parse_aspect(value)
        elif flag == "seed":
            fields["seed"] = _parse_int(value, "--seed", 0, MAX_SEED)
        elif flag == "no":
            fields["negative_prompt"] = _parse_negative(value)
        elif flag == "steps":
            fields["steps"] = _parse_int(value, "--steps", 1, limits.max_steps)
        elif flag == "cfg":
            fields["guidance"] = _parse_guidance(value, limits.max_guidance)
        elif flag == "model":
            fields["model"] = _parse_model(value)
        elif flag == "p":
            fields["profile"] = _parse_profile(value)
        elif flag == "chaos":
            fields["chaos"] = _parse_int(value, "--chaos", 0, 100)
        elif flag == "tile":
            if value:
                raise PromptError(f"--tile takes no value, not {value!r}.")
            fields["tile"] = True
        elif flag == "iw":
            if not images:
                raise PromptError("--iw weighs an image prompt; attach an image to use it.")
            fields["image_weight"] = _parse_guidance(value, LARGEST_IMAGE_WEIGHT, "--iw")
    if "model" in fields and "profile" in fields:
        raise PromptError("--model and --p cannot go together: a profile draws with its own model.")
    return ParsedPrompt(prompt=prompt, **fields)  # type: ignore[arg-type]


def _split_flags(text: str) -> dict[str, str]:
    """Map each canonical flag name to its raw value text."""
    values: dict[str, str] = {}
    flag: str | None = None
    words: list[str] = []
    for token in [*text.split(), None]:
        match = _FLAG_TOKEN.match(token) if token is not None else None
        if token is not None and match is None:
            if flag is None:
                raise PromptError(
                    f"Cannot read {token!r} as a parameter. Allowed: {ALLOWED_FLAGS}."
                )
            words.append(token)
            continue
        if flag is not None:
            values[flag] = " ".join(words)
        if match is None:
            break
        name = match.group(1).lower()
        if name not in _FLAG_ALIASES:
            raise PromptError(f"Unknown parameter --{name}. Allowed: {ALLOWED_FLAGS}.")
        flag = _FLAG_ALIASES[name]
        if flag in values:
            raise PromptError(f"--{name} is given twice; give each parameter once.")
        words = []
    for name, value in values.items():
        if not value and name not in _VALUE_OPTIONAL:
            raise PromptError(f"--{name} needs a value. Allowed: {ALLOWED_FLAGS}.")
        if name != "no" and " " in value:
            raise PromptError(
                f"Unexpected text after --{name} {value.split()[0]}: "
                "parameters go at the end of the prompt, one value each."
            )
    return values


def _parse_int(value: str, flag: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,12}", value):
        raise PromptError(f"{flag} takes a whole number from {low} to {high}, not {value!r}.")
    number = int(value)
    if not low <= number <= high:
        raise PromptError(f"{flag} must be from {low} to {high}; {number} is out of range.")
    return number


def _parse_guidance(value: str, maximum: float, flag: str = "--cfg") -> float:
    if not re.fullmatch(r"[0-9]{1,4}(?:\.[0-9]{1,4})?|\.[0-9]{1,4}", value):
        raise PromptError(f"{flag} takes a number from 0 to {maximum:g}, not {value!r}.")
    number = float(value)
    if number > maximum:
        raise PromptError(f"{flag} must be from 0 to {maximum:g}; {value} is out of range.")
    return number


def _parse_aspect(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"([0-9]{1,4}):([0-9]{1,4})", value)
    if match is None:
        raise PromptError(f"--ar takes a ratio W:H such as 16:9 or 2:3, not {value!r}.")
    width, height = int(match.group(1)), int(match.group(2))
    if width == 0 or height == 0:
        raise PromptError("--ar needs both sides above zero, such as 16:9.")
    if not MIN_ASPECT <= Fraction(width, height) <= MAX_ASPECT:
        raise PromptError(
            f"--ar {width}:{height} is too extreme; ratios from 1:4 to 4:1 are allowed."
        )
    return width, height


def _parse_negative(value: str) -> str:
    terms = [" ".join(term.split()) for term in value.split(",")]
    return ", ".join(term for term in terms if term)


def _parse_model(value: str) -> str:
    if not _MODEL_NAME.match(value):
        raise PromptError(
            f"--model takes a model name (letters, digits, '.', '_', '-', '/'), not {value!r}."
        )
    return value


def _parse_profile(value: str) -> ProfileWanted:
    word = value.lower()
    if not word:
        return ProfileWanted("own")
    if word in ("server", "off"):
        return ProfileWanted("server" if word == "server" else "off")
    if SHARE_CODE.match(word):
        return ProfileWanted("shared", word)
    raise PromptError(
        "--p takes nothing (your own profile), a share code someone gave you (8 letters and "
        f"digits), server (the server's profile) or off, not {value!r}."
    )


def size_for_aspect(
    aspect: tuple[int, int] | None, native_width: int, native_height: int, multiple: int
) -> tuple[int, int]:
    """The image size for an aspect ratio: about the model's native pixel count, on its grid."""
    if aspect is None:
        return native_width, native_height
    ratio = aspect[0] / aspect[1]
    area = native_width * native_height
    width = _round_to(math.sqrt(area * ratio), multiple)
    height = _round_to(math.sqrt(area / ratio), multiple)
    if width < multiple or height < multiple:
        raise PromptError(
            f"--ar {aspect[0]}:{aspect[1]} is too narrow for this model, whose sides must be "
            f"multiples of {multiple} px around {native_width}x{native_height}."
        )
    return width, height


def _round_to(value: float, multiple: int) -> int:
    return round(value / multiple) * multiple
