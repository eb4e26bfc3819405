"""Blind A/B layouts: two pictures of each version in every grid, at random positions."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bot.core.jobs.comparison import blind_layout


def test_every_compared_grid_has_two_pictures_of_each_version() -> None:
    layouts = [blind_layout(7, 9) for _ in range(300)]

    assert all(sorted(layout) == [7, 7, 9, 9] for layout in layouts)


def test_positions_are_random_so_no_version_owns_u1() -> None:
    # Unseeded, as the bot draws them: all six arrangements turn up about equally often.
    arrangements = Counter(tuple(blind_layout(1, 2)) for _ in range(1200))
    first_position = Counter(layout[0] for layout in arrangements.elements())

    assert len(arrangements) == 6
    assert all(140 <= count <= 260 for count in arrangements.values()), arrangements
    assert 520 <= first_position[1] <= 680


def test_a_seeded_layout_repeats_and_one_version_cannot_be_compared_with_itself() -> None:
    assert blind_layout(1, 2, rng=random.Random(3)) == blind_layout(1, 2, rng=random.Random(3))
    with pytest.raises(ValueError, match="two different"):
        blind_layout(4, 4)
    with pytest.raises(ValueError, match="even"):
        blind_layout(1, 2, size=3)
