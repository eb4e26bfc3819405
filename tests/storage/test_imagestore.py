import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from storage import (
    CorruptImageError,
    ImageNotFoundError,
    ImageStore,
    InvalidHashError,
    encode_png,
)


def _picture(mode: str = "RGB", size: tuple[int, int] = (8, 6)) -> Image.Image:
    image = Image.new(mode, size)
    image.putdata([(x * 31 % 256, x * 17 % 256, x * 7 % 256, 200)[: len(mode)] for x in range(48)])
    return image


def test_put_then_read_gives_the_same_bytes_under_their_hash(image_store: ImageStore) -> None:
    data = encode_png(_picture())

    sha256 = image_store.put(data)

    assert sha256 == hashlib.sha256(data).hexdigest()
    assert image_store.read(sha256) == data
    assert image_store.exists(sha256)
    assert image_store.path(sha256) == (
        image_store.root / sha256[:2] / sha256[2:4] / f"{sha256}.png"
    )


def test_putting_the_same_bytes_again_leaves_the_stored_file_alone(
    image_store: ImageStore,
) -> None:
    data = encode_png(_picture())
    sha256 = image_store.put(data)
    before = image_store.path(sha256).stat()

    assert image_store.put(data) == sha256

    after = image_store.path(sha256).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_writes_leave_nothing_but_stored_images(image_store: ImageStore) -> None:
    hashes = {image_store.put(bytes([n]) * 100) for n in range(20)}

    files = [path for path in image_store.root.rglob("*") if path.is_file()]
    assert sorted(path.name for path in files) == sorted(f"{h}.png" for h in hashes)


def test_a_damaged_file_is_refused_on_read(image_store: ImageStore) -> None:
    sha256 = image_store.put(encode_png(_picture()))
    path = image_store.path(sha256)
    damaged = bytearray(path.read_bytes())
    damaged[-20] ^= 0xFF
    path.write_bytes(bytes(damaged))

    with pytest.raises(CorruptImageError, match=sha256):
        image_store.read(sha256)


def test_reading_a_missing_image_says_which(image_store: ImageStore) -> None:
    sha256 = hashlib.sha256(b"never stored").hexdigest()

    with pytest.raises(ImageNotFoundError, match=sha256) as raised:
        image_store.read(sha256)
    assert isinstance(raised.value, FileNotFoundError)
    assert not image_store.exists(sha256)


def test_delete_removes_the_file_once(image_store: ImageStore) -> None:
    sha256 = image_store.put(b"to be deleted")

    assert image_store.delete(sha256) is True
    assert not image_store.exists(sha256)
    assert image_store.delete(sha256) is False


@pytest.mark.parametrize(
    "bad_hash",
    [
        "../" * 20 + "etc/passwd",
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "",
        "/" + "a" * 63,
        "a" * 64 + "\n",
    ],
)
def test_anything_but_a_sha256_hex_digest_is_refused(
    image_store: ImageStore, bad_hash: str
) -> None:
    for use in (image_store.path, image_store.read, image_store.exists, image_store.delete):
        with pytest.raises(InvalidHashError):
            use(bad_hash)


def test_the_store_makes_its_own_folders(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "not" / "yet" / "there")

    sha256 = store.put(b"first image")

    assert store.read(sha256) == b"first image"


def test_encode_png_depends_on_the_pixels_only() -> None:
    plain = _picture()
    decorated = _picture()
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "made at 12:00")
    buffer = io.BytesIO()
    decorated.save(buffer, format="PNG", pnginfo=text, dpi=(300, 300))
    decorated = Image.open(io.BytesIO(buffer.getvalue()))
    assert decorated.info  # the round trip really carries metadata

    assert encode_png(decorated) == encode_png(plain) == encode_png(plain.copy())


def test_encode_png_keeps_the_pixels() -> None:
    for picture in (_picture("RGB"), _picture("RGBA")):
        decoded = Image.open(io.BytesIO(encode_png(picture)))

        assert decoded.format == "PNG"
        assert decoded.mode == picture.mode
        assert decoded.tobytes() == picture.tobytes()


def test_encode_png_writes_no_metadata() -> None:
    data = encode_png(_picture())

    assert _chunk_types(data) == [b"IHDR", b"IDAT", b"IEND"]


def _chunk_types(png: bytes) -> list[bytes]:
    types = []
    offset = 8  # the PNG signature
    while offset < len(png):
        length = int.from_bytes(png[offset : offset + 4], "big")
        types.append(png[offset + 4 : offset + 8])
        offset += 12 + length  # length, type, data, CRC
    return types
