from collections.abc import Sequence

from PIL import Image as PILImage
from PIL.Image import Image


def compose_grid(images: Sequence[Image], columns: int = 2) -> Image:
    """The images tiled row-major (0 1 / 2 3 for four), edge to edge with no gutter.

    All images must have the same size; the grid is `columns` tiles wide and as many rows
    high as needed, a short last row left black.
    """
    if not images:
        raise ValueError("a grid needs at least one image")
    width, height = images[0].size
    if any(image.size != (width, height) for image in images):
        raise ValueError("all images of a grid must have the same size")
    rows = -(-len(images) // columns)
    grid = PILImage.new("RGB", (columns * width, rows * height))
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid.paste(image.convert("RGB"), (column * width, row * height))
    return grid
