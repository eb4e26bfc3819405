"""Resizing images, always with Lanczos, and the sizes a model can make."""

from PIL.Image import Image, Resampling


def enlarge(image: Image, factor: int) -> Image:
    return image.resize((image.width * factor, image.height * factor), Resampling.LANCZOS)


def fit_to_multiple(size: int, multiple: int) -> int:
    """The multiple of `multiple` nearest to `size`, never below one `multiple`."""
    return max(multiple, round(size / multiple) * multiple)


def resize_to(image: Image, size: tuple[int, int]) -> Image:
    return image if image.size == size else image.resize(size, Resampling.LANCZOS)
