"""Prompt weights: Midjourney's multi-prompts (``hot:: dog``, ``a castle::2 fog::0.5``) and
term weights (``a (red)1.4 door``), read here and drawn through compel
(``engine.conditioning``).

Torch-free, so front ends check a prompt's weights before anything heavy is imported. A
multi-prompt's parts are blended by their weights, as Midjourney weighs them against each other;
a part may weigh less than nothing (``::-0.5``: less of that), but the weights must add up to
more than nothing. Inside a part, compel's term weights apply: ``(words)1.3``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "::" ends a part; a number right after it is the part's weight (1 when there is none).
_PART_END = re.compile(r"::[ \t]*(-?(?:[0-9]{1,4}(?:\.[0-9]{1,4})?|\.[0-9]{1,4}))?")
# compel's numeric term weight: a parenthesised run of words, then its weight.
_TERM_WEIGHT = re.compile(r"\([^()]+\)-?[0-9]*\.?[0-9]+")
LARGEST_WEIGHT = 100.0
# The pipeline families whose text encoders compel weighs (by diffusers class name; an SDXL
# pipeline's name starts with "StableDiffusion" too, so it comes first).
WEIGHTED_FAMILIES = ("StableDiffusionXL", "StableDiffusion")


class PromptWeightError(ValueError):
    """A weighted prompt that cannot be read; the message is meant for the person."""


@dataclass(frozen=True)
class Part:
    text: str
    weight: float


def weighted_family(pipeline_class: str) -> str | None:
    """The family whose weights a pipeline class takes, or None (SD3, FLUX, others): refused."""
    if pipeline_class.startswith("StableDiffusion3"):
        return None
    return next((family for family in WEIGHTED_FAMILIES if pipeline_class.startswith(family)), None)


def is_weighted(prompt: str) -> bool:
    """Whether the prompt asks for weights (and so is drawn through compel)."""
    return "::" in prompt or _TERM_WEIGHT.search(prompt) is not None


def parts(prompt: str) -> list[Part]:
    """The prompt's parts and their weights; PromptWeightError for an empty part, a weight out
    of range or weights that add up to nothing."""
    found: list[Part] = []
    start = 0
    for match in _PART_END.finditer(prompt):
        text = prompt[start : match.start()].strip()
        weight = float(match.group(1)) if match.group(1) is not None else 1.0
        if not text:
            raise PromptWeightError(
                "A part of a multi-prompt is empty: write words before each ::, as in "
                "`a castle::2 fog::0.5`."
            )
        found.append(Part(text, weight))
        start = match.end()
    rest = prompt[start:].strip()
    if rest:
        found.append(Part(rest, 1.0))
    for part in found:
        if abs(part.weight) > LARGEST_WEIGHT:
            raise PromptWeightError(
                f"A part's weight is from -{LARGEST_WEIGHT:g} to {LARGEST_WEIGHT:g}, "
                f"not {part.weight:g}."
            )
    if found and sum(part.weight for part in found) <= 0:
        raise PromptWeightError(
            "The weights of a multi-prompt must add up to more than 0 "
            f"({' + '.join(f'{part.weight:g}' for part in found)} does not)."
        )
    if any(text.count("(") != text.count(")") for text in (part.text for part in found)):
        raise PromptWeightError("A weighted prompt's parentheses must pair up: (words)1.3.")
    return found


def check(prompt: str) -> None:
    """Refuse a weighted prompt that cannot be read (PromptWeightError); plain ones pass."""
    if is_weighted(prompt):
        parts(prompt)


def compel_prompt(prompt: str) -> str:
    """The prompt in compel's syntax: a multi-prompt as a blend of its parts."""
    found = parts(prompt)
    if len(found) == 1 and found[0].weight == 1.0:
        return found[0].text
    quoted = ", ".join(
        '"' + part.text.replace("\\", "\\\\").replace('"', '\\"') + '"' for part in found
    )
    weights = ", ".join(f"{part.weight:g}" for part in found)
    return f"({quoted}).blend({weights})"
