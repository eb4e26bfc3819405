"""Permutation prompts and ``--repeat``, as on Midjourney: ``a {red, blue} circle --repeat 2``
stands for four prompts, one job each.

Options in braces are expanded left to right (nested braces too: ``a {large {red, blue}, small}
star`` is three prompts), anywhere in the text, parameters included (``--ar {1:1, 16:9}``);
``--repeat N`` (or ``--r N``) makes each of them N times. The text of each prompt is checked as
any prompt is, afterwards.
"""

from __future__ import annotations

import re

from bot.core.jobs.prompt import PromptError

_REPEAT = re.compile(r"(?:(?<=\s)|^)(?:--|\u2014|\u2013)(?:repeat|r)(?:\s+(\S+))?(?=\s|$)")


def expand(text: str, most: int) -> list[str]:
    """The prompts ``text`` stands for, in order; PromptError for unbalanced braces, a bad
    ``--repeat`` or more than ``most`` prompts (before any is made)."""
    text, repeat = _repeat(text, most)
    prompts = _options(text, most)
    if len(prompts) * repeat > most:
        raise _too_many(most)
    return [prompt for prompt in prompts for _ in range(repeat)]


def _too_many(most: int) -> PromptError:
    return PromptError(
        f"This prompt makes more than {most} grids; use fewer options or a smaller --repeat."
    )


def _repeat(text: str, most: int) -> tuple[str, int]:
    found = list(_REPEAT.finditer(text))
    if not found:
        return text, 1
    if len(found) > 1:
        raise PromptError("--repeat is given twice; give it once.")
    value = found[0].group(1) or ""
    if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= most:
        raise PromptError(f"--repeat takes a whole number from 1 to {most}, not {value!r}.")
    start, end = found[0].span()
    return text[:start] + text[end:], int(value)


def _options(text: str, most: int) -> list[str]:
    """Every way of choosing one option of each brace group, the first group first; a group's
    options may hold groups of their own."""
    opening = text.find("{")
    if opening < 0:
        if "}" in text:
            raise _unbalanced()
        return [text]
    closing, options = _group_at(text, opening)
    expanded: list[str] = []
    for option in options:
        expanded += _options(text[:opening] + option.strip() + text[closing + 1 :], most)
        if len(expanded) > most:
            raise _too_many(most)
    return expanded


def _group_at(text: str, opening: int) -> tuple[int, list[str]]:
    """Where the group opened at ``opening`` closes, and its options (split at its own
    commas, not at those of a group inside it)."""
    depth, start = 0, opening + 1
    options: list[str] = []
    for at in range(opening, len(text)):
        if text[at] == "{":
            depth += 1
        elif text[at] == "}":
            depth -= 1
            if depth == 0:
                return at, [*options, text[start:at]]
        elif text[at] == "," and depth == 1:
            options.append(text[start:at])
            start = at + 1
    raise _unbalanced()


def _unbalanced() -> PromptError:
    return PromptError("A { has no matching }, or a } no matching {: check the braces.")
