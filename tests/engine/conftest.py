from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.engine.support import RequestFactory


@pytest.fixture
def request_for(tiny_model_dir: Path) -> RequestFactory:
    return RequestFactory(str(tiny_model_dir))


@pytest.fixture
def circle_picture() -> Image.Image:
    """A red circle on navy, 64x64: an init image whose colours are easy to find again."""
    picture = Image.new("RGB", (64, 64), "navy")
    ImageDraw.Draw(picture).ellipse((16, 16, 48, 48), fill="red")
    return picture
