import pytest
from PIL import Image

from engine import compose_grid

COLOURS = ["red", "green", "blue", "yellow"]


def tiles(width: int, height: int) -> list[Image.Image]:
    return [Image.new("RGB", (width, height), colour) for colour in COLOURS]


def test_four_tiles_make_a_two_by_two_grid_in_row_major_order() -> None:
    grid = compose_grid(tiles(30, 20))

    assert grid.size == (60, 40)
    corners = {(0, 0): 0, (30, 0): 1, (0, 20): 2, (30, 20): 3}
    for (left, top), index in corners.items():
        expected = Image.new("RGB", (1, 1), COLOURS[index]).getpixel((0, 0))
        for x, y in [(left, top), (left + 29, top + 19), (left + 15, top + 10)]:
            assert grid.getpixel((x, y)) == expected, (index, x, y)


def test_other_column_counts_and_short_rows() -> None:
    grid = compose_grid(tiles(10, 16)[:3], columns=3)
    tall = compose_grid(tiles(10, 16)[:3])

    assert grid.size == (30, 16)
    assert tall.size == (20, 32)
    assert tall.getpixel((15, 24)) == (0, 0, 0)


def test_images_of_different_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="same size"):
        compose_grid([Image.new("RGB", (8, 8)), Image.new("RGB", (8, 9))])
    with pytest.raises(ValueError, match="at least one"):
        compose_grid([])
