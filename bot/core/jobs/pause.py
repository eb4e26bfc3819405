"""Waiting for a nudge, or for a while, whichever comes first."""

from __future__ import annotations

import asyncio
import contextlib


async def until_nudged(nudge: asyncio.Event, seconds: float) -> None:
    """Return when ``nudge`` is set or after ``seconds``.

    ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11, ``wait_for`` can swallow a
    cancellation that arrives as its timeout fires, and the cancelled loop then runs on.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await nudge.wait()
