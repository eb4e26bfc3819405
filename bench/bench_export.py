"""Export benchmark: pairs per second, images included, and peak memory as the data grows.

For each size a SQLite database is filled with grids, their images and one U-click each (three
pairs per grid), straight through SQL: the point is the export, not making pictures, so the
images are a pool of distinct random PNGs that many grids share. Each export then runs in a
fresh process (``pickloop``'s own export path: derivation, pseudonyms, JPEG re-encoding,
parquet shards, the dataset card), and that process reports its time and its peak resident
memory. Aim: memory flat as the size grows.

    python bench/bench_export.py [--pairs 10000 50000] [--format pairs] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import PIL.Image
from sqlalchemy import insert

from storage.db import open_database
from storage.export import FORMATS, export_from_database
from storage.imagestore import ImageStore
from storage.models import Event, EventKind, Image, Job, JobKind, JobStatus, ModelVersion, User
from storage.parameters import JobParameters

PEOPLE = 200
DISTINCT_IMAGES = 512
SIZE = 64
BATCH = 2000
SECRET = "bench-secret"
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "white", "black")
SHAPES = ("circle", "square", "triangle", "star")


def random_png(rng: random.Random) -> bytes:
    image = PIL.Image.frombytes("RGB", (SIZE, SIZE), rng.randbytes(SIZE * SIZE * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def seed(data: Path, pairs: int) -> None:
    """Grids of four images with one U-click each, in as few statements as possible."""
    rng = random.Random(0)
    store = ImageStore(data / "images")
    pool = [store.put(random_png(rng)) for _ in range(DISTINCT_IMAGES)]
    database = await open_database(f"sqlite+aiosqlite:///{data / 'pickloop.db'}")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    grids = math.ceil(pairs / 3)
    try:
        async with database.sessions.begin() as session:
            await session.execute(
                insert(ModelVersion),
                [{"id": 1, "name": "bench", "base_model": "embedded", "serving": True}],
            )
            await session.execute(
                insert(User),
                [
                    {"id": n + 1, "local_name": f"person{n}", "display_name": f"person{n}"}
                    for n in range(PEOPLE)
                ],
            )
        for first in range(0, grids, BATCH):
            numbers = range(first, min(first + BATCH, grids))
            jobs, images, events = [], [], []
            for n in numbers:
                at = start + timedelta(seconds=n)
                prompt = f"a {COLOURS[n % 8]} {SHAPES[n // 8 % 4]} number {n % 1013}"
                jobs.append(
                    {
                        "id": n + 1,
                        "public_id": f"g{n:09d}",
                        "owner_id": n % PEOPLE + 1,
                        "kind": JobKind.IMAGINE,
                        "prompt": prompt,
                        "negative_prompt": "",
                        "parameters": JobParameters(
                            width=SIZE, height=SIZE, steps=20, guidance=7.5, count=4
                        ),
                        "base_seed": n * 4,
                        "model_version_id": 1,
                        "status": JobStatus.DONE,
                        "origin": "cli",
                        "grid_sha256": pool[n % DISTINCT_IMAGES],
                        "created_at": at,
                    }
                )
                for position in range(4):
                    images.append(
                        {
                            "id": n * 4 + position + 1,
                            "public_id": f"i{n:09d}{position}",
                            "job_id": n + 1,
                            "position": position,
                            "seed": n * 4 + position,
                            "sha256": pool[(n * 4 + position) % DISTINCT_IMAGES],
                            "width": SIZE,
                            "height": SIZE,
                            "created_at": at,
                        }
                    )
                clicked = rng.randrange(4)
                events.append(
                    {
                        "user_id": (n * 7 + 3) % PEOPLE + 1,
                        "kind": EventKind.UPSCALE,
                        "job_id": n + 1,
                        "image_id": n * 4 + clicked + 1,
                        "position": clicked,
                        "origin": "cli",
                        "detail": {},
                        "created_at": at + timedelta(seconds=1),
                    }
                )
            async with database.sessions.begin() as session:
                await session.execute(insert(Job), jobs)
                await session.execute(insert(Image), images)
                await session.execute(insert(Event), events)
    finally:
        await database.dispose()


async def export_once(data: Path, out: Path, format_name: str) -> dict[str, Any]:
    """One export, as `pickloop export` runs it; measured from inside its own process."""
    store = ImageStore(data / "images")
    database = await open_database(f"sqlite+aiosqlite:///{data / 'pickloop.db'}")
    started = time.perf_counter()
    try:
        result = await export_from_database(
            database, FORMATS[format_name], out, read_png=store.read, secret=SECRET
        )
    finally:
        await database.dispose()
    seconds = time.perf_counter() - started
    rows = sum(result.counts.values())
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds, 1),
        # Linux reports the peak resident set size in KiB.
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "output_mib": round(sum(f.stat().st_size for f in out.rglob("*.parquet")) / 2**20, 1),
    }


def measure(pairs: int, format_name: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        asyncio.run(seed(data, pairs))
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(data), format_name],
            check=True,
            capture_output=True,
            text=True,
        )
        measured: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
    return {"pairs_asked": pairs, **measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--format", default="pairs", choices=sorted(FORMATS))
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--child", nargs=2, metavar=("DATA", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data, format_name = Path(args.child[0]), args.child[1]
        print(json.dumps(asyncio.run(export_once(data, data.parent / "out", format_name))))
        return
    runs = [measure(pairs, args.format) for pairs in args.pairs]
    result = {
        "format": args.format,
        "runs": runs,
        # Memory of the largest export over the smallest: 1.0 is perfectly flat.
        "peak_rss_ratio": round(runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    for run in runs:
        print(
            f"{run['rows']:>7} {args.format} rows: {run['seconds']:>7.1f} s "
            f"({run['rows_per_second']:.0f} rows/s, images included), "
            f"peak memory {run['peak_rss_mib']:.0f} MiB, output {run['output_mib']:.0f} MiB"
        )
    print(f"peak memory, largest over smallest: {result['peak_rss_ratio']}")


if __name__ == "__main__":
    main()
