"""Job queue benchmark: how many jobs a second can processes claim from the shared queue?

One database (a SQLite file, or PostgreSQL with ``--postgres URL``) holds ``--jobs`` waiting
jobs of ``--owners`` people. Then 1, 2 and 4 processes claim at the same moment, each as fast
as it can (claims only: nothing is run), until the queue is empty. Printed for each: jobs
claimed per second in all, how the claims were shared, and that every job was claimed exactly
once. The ratios against one process are the point; the machine's speed varies by the day.

    python bench/bench_queue.py [--jobs 1000] [--owners 20] [--postgres URL] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, pool, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import open_database
from storage.ids import new_public_id
from storage.models import Job, JobKind, ModelVersion, Origin, User
from storage.parameters import JobParameters
from storage.queue import JobQueue

CLAIMERS = (1, 2, 4)


async def fill(url: str, jobs: int, owners: int) -> None:
    database = await open_database(url)
    try:
        async with database.sessions.begin() as session:
            version = ModelVersion(name="bench", base_model="bench", serving=True)
            people = [User(local_name=f"p{n}", display_name=f"p{n}") for n in range(owners)]
            session.add_all([version, *people])
            await session.flush()
            session.add_all(
                Job(
                    public_id=new_public_id(),
                    owner_id=people[n % owners].id,
                    kind=JobKind.IMAGINE,
                    prompt=f"job {n}",
                    parameters=JobParameters(width=64, height=64, steps=2, guidance=7.5, count=4),
                    base_seed=n,
                    model_version_id=version.id,
                    origin=Origin.CLI,
                )
                for n in range(jobs)
            )
    finally:
        await database.dispose()


async def claim_until_empty(url: str, worker: str, start_at: float) -> dict[str, Any]:
    database = await open_database(url)
    queue = JobQueue(database, lease_seconds=600)
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.time()
        claimed = 0
        while await queue.claim_next(worker) is not None:
            claimed += 1
        return {"claimed": claimed, "began": began, "ended": time.time()}
    finally:
        await database.dispose()


async def claims_per_job(url: str) -> tuple[int, int]:
    """How many jobs were claimed, and how many are still waiting."""
    database = await open_database(url)
    try:
        async with database.sessions() as session:
            claimed = await session.scalar(
                select(func.count()).select_from(Job).where(Job.claimed_by.is_not(None))
            )
            waiting = await session.scalar(
                select(func.count()).select_from(Job).where(Job.claimed_by.is_(None))
            )
            return int(claimed or 0), int(waiting or 0)
    finally:
        await database.dispose()


def run_round(url: str, processes: int) -> dict[str, Any]:
    # Every claimer starts at the same wall-clock moment, after its imports and connection.
    start_at = time.time() + 3.0
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", url, f"bench-{n}", str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    results = [json.loads(child.communicate()[0]) for child in children]
    began = min(result["began"] for result in results)
    ended = max(result["ended"] for result in results)
    total = sum(result["claimed"] for result in results)
    claimed, waiting = asyncio.run(claims_per_job(url))
    return {
        "processes": processes,
        "jobs_claimed": total,
        "jobs_per_second": round(total / (ended - began), 1),
        "claims_by_process": [result["claimed"] for result in results],
        "each_job_once": total == claimed and waiting == 0,
    }


async def fresh_postgres(server_url: str) -> str:
    name = f"pickloop_bench_{secrets.token_hex(4)}"
    server = create_async_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    async with server.connect() as connection:
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    await server.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_postgres(server_url: str, url: str) -> None:
    server = create_async_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    async with server.connect() as connection:
        await connection.exec_driver_sql(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')
    await server.dispose()


def bench(backend: str, jobs: int, owners: int, postgres: str | None) -> list[dict[str, Any]]:
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for processes in CLAIMERS:
            if postgres is None:
                url = f"sqlite+aiosqlite:///{Path(tmp) / f'queue-{processes}.db'}"
            else:
                url = asyncio.run(fresh_postgres(postgres))
            try:
                asyncio.run(fill(url, jobs, owners))
                rounds.append({"backend": backend, **run_round(url, processes)})
            finally:
                if postgres is not None:
                    asyncio.run(drop_postgres(postgres, url))
    one = rounds[0]["jobs_per_second"]
    for result in rounds:
        result["vs_one_process"] = round(result["jobs_per_second"] / one, 2)
    return rounds


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        url, worker, start_at = sys.argv[2], sys.argv[3], float(sys.argv[4])
        print(json.dumps(asyncio.run(claim_until_empty(url, worker, start_at))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--owners", type=int, default=20)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a database is made there)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    results = bench("sqlite", args.jobs, args.owners, None)
    if args.postgres:
        results += bench("postgresql", args.jobs, args.owners, args.postgres)
    if args.json:
        print(json.dumps({"rounds": results}))
        return
    for result in results:
        print(
            f"{result['backend']:>10} x{result['processes']}: "
            f"{result['jobs_per_second']:>7} jobs/s ({result['vs_one_process']}x one process), "
            f"claims {result['claims_by_process']}, each job once: {result['each_job_once']}"
        )


if __name__ == "__main__":
    main()
