"""Blind A/B grids: two model versions drawing two pictures each, at random positions.

A grid made while two versions serve shows two pictures of each, placed at random, so every
U-click or `/rate` choice between a picture of one and a picture of the other is a direct vote,
and the position a person tends to click first favours neither. Which version drew which
picture is kept per image (``images.model_version_id``); people are never told, admins can see
it with ``/show``.
"""

from __future__ import annotations

import random

from storage.models import Job

# What people are shown instead of a model name in a blind comparison.
HIDDEN = "hidden (blind comparison)"

_system_random = random.SystemRandom()


def blind_layout(
    first: int, second: int, size: int = 4, rng: random.Random | None = None
) -> list[int]:
    """Model version ids by grid position: half of them each version, shuffled."""
    if first == second:
        raise ValueError("a blind comparison needs two different model versions")
    if size % 2:
        raise ValueError("a blind grid needs an even number of pictures")
    layout = [first] * (size // 2) + [second] * (size // 2)
    (rng or _system_random).shuffle(layout)
    return layout


def versions_by_position(job: Job) -> list[int]:
    """The model version id behind each picture a job makes."""
    layout = job.parameters.versions
    if layout is not None:
        return list(layout)
    return [job.model_version_id] * job.parameters.count


def compared_versions(job: Job) -> tuple[int, int] | None:
    """The two versions a blind grid compares, in order of first appearance; None otherwise."""
    if job.parameters.versions is None:
        return None
    seen = list(dict.fromkeys(versions_by_position(job)))
    return seen[0], seen[1]
