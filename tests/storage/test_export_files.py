"""An export's folder on disk: its files are the owner's alone, and what killed exports leave
beside it goes with the next export there. Killed and running exports are real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from storage.export import FORMATS, Exclusions, ExportError, ExportOptions, ExportResult
from storage.export import export_dataset as run_export
from storage.imagestore import ImageStore, encode_png
from storage.labels.rows import ImageLabel, ShownImage, Source

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test secret"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Run in another process: an export that is SIGKILLed, or that stops ("running") and prints
# "staged", at its first picture, once its staging folder is made.
_CHILD = """
import asyncio, os, signal, sys, time
from pathlib import Path
from storage.imagestore import ImageStore
from tests.storage.test_export_files import export_to

store, out, how = ImageStore(Path(sys.argv[1])), Path(sys.argv[2]), sys.argv[3]

def read_png(sha256):
    if how == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    print("staged", flush=True)
    time.sleep(600)

asyncio.run(export_to(out, store, read_png))
"""


def labels(store: ImageStore) -> list[ImageLabel]:
    sha256 = store.put(encode_png(Image.new("RGB", (8, 8), "red")))
    image = ShownImage(
        image_id=1,
        public_id="img-1",
        job_id=1,
        job_public_id="job-1",
        job_kind="imagine",
        position=0,
        seed=1,
        sha256=sha256,
        width=8,
        height=8,
        prompt="a red square",
        negative_prompt="",
        model_version="tiny",
        parameters={},
        created_at=WHEN,
    )
    return [
        ImageLabel(
            ranking_id=f"ranking-{n}",
            user_id=n,
            caption=image.prompt,
            image=image,
            positive=n == 0,
            source=Source.UPSCALE,
            event_ids=(n,),
            created_at=WHEN,
        )
        for n in range(3)
    ]


async def export_to(
    out: Path, store: ImageStore, read_png: Callable[[str], bytes] | None = None
) -> ExportResult:
    rows = labels(store)

    async def source() -> AsyncIterator[ImageLabel]:
        for row in rows:
            yield row

    return await run_export(
        FORMATS["kto"],
        source,
        out,
        read_png=read_png or store.read,
        secret=SECRET,
        exclusions=Exclusions(),
        options=ExportOptions(rows_per_shard=1),
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _staging(parent: Path) -> set[str]:
    return {path.name for path in parent.iterdir() if path.name.endswith(".partial")}


def _start(store: ImageStore, out: Path, how: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(store.root), str(out), how],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )


async def test_an_exports_folder_and_files_are_the_owners_alone(
    tmp_path: Path, image_store: ImageStore
) -> None:
    previous = os.umask(0o022)  # the usual one, under which files are readable by all
    try:
        result = await export_to(tmp_path / "kto", image_store)
    finally:
        os.umask(previous)

    folder = result.folder
    assert "README.md" in result.files and len(result.files) == 4  # three one-row shards
    assert {file: _mode(folder / file) for file in result.files} == dict.fromkeys(
        result.files, 0o600
    )
    assert (_mode(folder), _mode(folder / "data")) == (0o700, 0o700)
    assert sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")) == sorted(
        (*result.files, "data")
    )


async def test_the_next_export_removes_what_killed_ones_left_but_not_a_running_ones(
    tmp_path: Path, image_store: ImageStore
) -> None:
    parent = tmp_path / "exports"
    out = parent / "kto"
    # The running export first: an export that starts clears the leftovers of dead ones, so a
    # later start would already have taken the killed ones' folders.
    running = _start(image_store, out, "running")
    try:
        assert running.stdout is not None
        assert await asyncio.to_thread(running.stdout.readline) == "staged\n"
        killed = _start(image_store, out, "killed")
        # Another destination whose name begins like this one's: its leftovers are not ours.
        killed_elsewhere = _start(image_store, parent / "kto.2", "killed")
        for child in (killed, killed_elsewhere):
            assert await asyncio.to_thread(child.wait, 60) == -signal.SIGKILL
        left = _staging(parent)
        assert len(left) == 3
        elsewhere = {name for name in left if name.startswith(".kto.2.")}
        assert len(elsewhere) == 1

        result = await export_to(out, image_store)

        # The killed export's folder is gone; the running one's, named for its process, stays.
        assert {name.split(".")[2] for name in _staging(parent) - elsewhere} == {str(running.pid)}
        assert pq.read_table(out / "data").num_rows == 3
        assert sorted(result.files) == sorted(
            path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()
        )
    finally:
        running.kill()
        running.wait()

    # Now that it was killed too, the next export there clears its leftover, even refused.
    with pytest.raises(ExportError, match="already exists"):
        await export_to(out, image_store)
    assert _staging(parent) == elsewhere
    assert sorted(path.name for path in parent.iterdir()) == sorted({"kto", *elsewhere})


async def test_a_failed_export_removes_its_staging_folder(
    tmp_path: Path, image_store: ImageStore
) -> None:
    def broken(_sha256: str) -> bytes:
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="disk went away"):
        await export_to(tmp_path / "exports" / "kto", image_store, broken)
    assert list((tmp_path / "exports").iterdir()) == []
