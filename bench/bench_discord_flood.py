"""Discord flood benchmark: does the 3-second acknowledgement hold when everyone asks at once?

The production ``PickloopBot`` runs against the same stand-in for Discord the tests use
(``tests/bot/ui/harness.py``: gateway payloads in through discord.py's connection state, every
HTTP request answered at aiohttp's last step), on the embedded model and a SQLite file.

While the engine is busy with a long job, ``--imagines`` people send ``/imagine`` and then
``--clicks`` people click U/V/🔄 buttons on one grid, interleaved as a gateway would deliver
them. Printed:
- the time from an interaction's arrival to its acknowledgement (p50, p99, max; aim p99 < 100
  ms, far inside Discord's 3 seconds);
- how many Discord calls each delivered job cost (acknowledgement, queue/progress edits, the
  final picture);
- how long the whole flood took to deliver.

    python bench/bench_discord_flood.py [--imagines 50] [--clicks 200] [--burst] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings
from bot.core.app import open_app
from bot.ui import PickloopBot
from engine import LocalEngine

# The stand-in for Discord lives with the tests, at the repository's root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.bot.ui.harness import Call, FakeDiscord, Gateway, Person, Sent, wire

# Long enough that every interaction arrives while the engine is busy with it.
BLOCKER = "a long one --steps 60"


def acknowledgement(fake: FakeDiscord, sent: Sent) -> Call | None:
    return next(
        (call for call in fake.calls_for(sent.token) if call.path.endswith("/callback")), None
    )


def delivered(fake: FakeDiscord, sent: Sent) -> bool:
    """The person saw an outcome: the picture, or a reason why not."""
    return any(
        (call.method == "PATCH" and call.files)
        or (call.method == "POST" and call.path.startswith("/webhooks/"))
        for call in fake.calls_for(sent.token)
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def flood(imagines: int, clicks: int, burst: bool) -> dict[str, Any]:
    fake = FakeDiscord()
    aiohttp.ClientSession._request = wire(fake)  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            _env_file=None,
            data_dir=root / "data",
            default_steps=2,
            max_steps=60,
            # Everyone is let in: the point is the acknowledgement under load, not the caps.
            queue_per_person=10,
            queue_total=imagines + clicks + 10,
        )
        engine = LocalEngine(settings.model_cache_dir)
        async with open_app(settings, engine=engine, run_own_jobs=False) as app:
            bot = PickloopBot(app)
            await bot.login("bench-token")
            gateway = Gateway(bot, fake)
            gateway.ready()

            owner = Person(500_000_000_000_000_000, "owner")
            seed = gateway.slash(owner, "imagine", prompt="a red circle")
            await fake.wait_for(lambda: delivered(fake, seed), within=120)
            grid = fake.originals[seed.token]
            job = next(c for c in fake.calls_for(seed.token) if c.files).custom_ids[0].split(":")[2]
            buttons = [f"pl:u:{job}:{i}" for i in range(1, 5)]
            buttons += [f"pl:v:{job}:{i}" for i in range(1, 5)] + [f"pl:r:{job}"]

            blocker = gateway.slash(owner, "imagine", prompt=BLOCKER)
            while not (bot.worker and bot.worker.busy):  # noqa: ASYNC110 -- no Discord call marks the start
                await asyncio.sleep(0.01)
            calls_before = len(fake.calls)

            arrivals: list[tuple[Sent, float]] = []
            people = (Person(600_000_000_000_000_000 + n, f"p{n}") for n in range(10**6))
            total = imagines + clicks
            handover_started = time.perf_counter()
            for n in range(total):
                person = next(people)
                start = time.perf_counter()
                # Spread the /imagines evenly among the clicks.
                if (n * imagines) // total != ((n + 1) * imagines) // total:
                    sent = gateway.slash(person, "imagine", prompt=f"a blue square {n}")
                else:
                    sent = gateway.click(person, grid, buttons[n % len(buttons)])
                arrivals.append((sent, start))
                if not burst:
                    # A gateway hands over one event at a time; the loop runs in between.
                    await asyncio.sleep(0)

            # How long handing the interactions over took (all of it before any is handled,
            # with --burst: the library parses each payload as it arrives).
            handover = time.perf_counter() - handover_started
            await fake.wait_for(
                lambda: all(acknowledgement(fake, sent) for sent, _ in arrivals), within=60
            )
            latencies = [
                (acknowledgement(fake, sent).at - start) * 1000  # type: ignore[union-attr]
                for sent, start in arrivals
            ]
            started = time.perf_counter()
            await fake.wait_for(
                lambda: all(delivered(fake, sent) for sent, _ in [*arrivals, (blocker, 0.0)]),
                within=3600,
            )
            drained = time.perf_counter() - started
            flood_calls = len(fake.calls) - calls_before
            await bot.close()
        await engine.close()
    jobs = len(arrivals) + 1
    return {
        "arrival": "all at once" if burst else "one per event-loop turn",
        "interactions": len(arrivals),
        "handover_ms": round(handover * 1000, 1),
        "ack_ms_p50": round(statistics.median(latencies), 2),
        "ack_ms_p99": round(percentile(latencies, 0.99), 2),
        "ack_ms_max": round(max(latencies), 2),
        "discord_calls": flood_calls,
        "discord_calls_per_job": round(flood_calls / jobs, 2),
        "seconds_to_deliver_all": round(drained, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imagines", type=int, default=50)
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument(
        "--burst",
        action="store_true",
        help="the worst case: every interaction handed over before the bot runs at all",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    result = asyncio.run(flood(args.imagines, args.clicks, args.burst))
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
