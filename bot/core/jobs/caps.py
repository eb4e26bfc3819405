"""Caps on the queue: how many unfinished jobs one person, and everyone together, may have.

A request over a cap is refused before anything is written, with a message that says why and
when to try again. The counts come from the database (``storage.queue``), so they hold however
many processes accept requests.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import UserError
from storage.queue import Caps, hold_caps_lock, over_cap, recent_seconds_per_job

# Until a job has finished, a guess at how long one takes, for "try again in ..." messages.
FIRST_GUESS_SECONDS = 30.0


class QueueFull(UserError):
    """Over a person's or the whole queue's cap; nothing was queued."""


async def refuse_over_cap(session: AsyncSession, owner_id: int, caps: Caps) -> None:
    """Raise QueueFull when one more job for ``owner_id`` breaks a cap. Holds the queue's
    caps lock until the transaction ends, so two writers cannot both pass the last place."""
    await hold_caps_lock(session)
    over = await over_cap(session, owner_id, caps)
    if over is None:
        return
    seconds_per_job = await recent_seconds_per_job(session) or FIRST_GUESS_SECONDS
    if over.owner_has is not None:
        raise QueueFull(
            f"You already have {over.owner_has} jobs in the queue, the most one person may "
            f"have. Try again when one finishes (about {_wait(1, seconds_per_job)})."
        )
    everyone = over.everyone_has or caps.total
    raise QueueFull(
        f"The queue is full ({everyone} jobs). "
        f"Try again in {_wait(everyone - caps.total + 1, seconds_per_job)}."
    )


def _wait(jobs: int, seconds_per_job: float) -> str:
    seconds = max(1, round(jobs * seconds_per_job))
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min"
