"""What the flywheel did, for the operator: each round with the data it was trained on, its
votes and its decision (``pickloop models history``), and the operator's hand on it: approving a
promotion that waits (``PICKLOOP_FLYWHEEL_APPROVAL``) and rolling a promotion back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.core.errors import NotFound, UserError
from bot.core.loop.flywheel import promote
from bot.core.models.registry import serve_only
from storage.db import Database
from storage.labels.winrate import WinRate
from storage.models import FlywheelRound, Job, ModelVersion, Profile, RoundStatus, User, utcnow
from storage.profiles import SERVER_KEY, personal_key


@dataclass(frozen=True)
class RoundView:
    id: int
    profile: str  # "server", or the person's name
    status: str
    baseline: str
    candidate: str | None
    export_job: str | None
    fine_tune_job: str | None
    export_fingerprint: str | None
    signals: int
    votes: WinRate
    interval: tuple[float, float] | None
    reason: str | None
    created_at: datetime
    decided_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.id,
            "profile": self.profile,
            "status": self.status,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "export_job": self.export_job,
            "fine_tune_job": self.fine_tune_job,
            "export_fingerprint": self.export_fingerprint,
            "signals": self.signals,
            "wins": self.votes.wins,
            "losses": self.votes.losses,
            "ties": self.votes.ties,
            "win_rate": self.votes.rate,
            "win_rate_ci": list(self.interval) if self.interval is not None else None,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


async def profile_key_named(session: AsyncSession, name: str) -> str:
    """A profile as an operator names it: ``server``, a local name or a Discord id."""
    if name == "server":
        return SERVER_KEY
    wanted = User.local_name == name
    if name.isdigit():
        wanted = or_(wanted, User.discord_id == int(name))
    user = (await session.execute(select(User).where(wanted))).scalars().first()
    if user is None:
        raise NotFound(f"No one is called {name!r}: name server, a local name or a Discord id.")
    return personal_key(user.id)


async def history(database: Database, profile: str | None = None) -> list[RoundView]:
    """Every round, the newest first; ``profile`` (as ``profile_key_named`` reads it) narrows it
    to one profile's."""
    baseline, candidate = aliased(ModelVersion), aliased(ModelVersion)
    export, fine_tune = aliased(Job), aliased(Job)
    async with database.sessions() as session:
        query = (
            select(FlywheelRound, Profile.key, User.display_name, baseline.name, candidate.name)
            .join(Profile, Profile.id == FlywheelRound.profile_id)
            .join(User, User.id == Profile.owner_id, isouter=True)
            .join(baseline, baseline.id == FlywheelRound.baseline_version_id)
            .join(candidate, candidate.id == FlywheelRound.candidate_version_id, isouter=True)
            .add_columns(export.public_id, fine_tune.public_id)
            .join(export, export.id == FlywheelRound.export_job_id, isouter=True)
            .join(fine_tune, fine_tune.id == FlywheelRound.fine_tune_job_id, isouter=True)
            .order_by(FlywheelRound.id.desc())
        )
        if profile is not None:
            query = query.where(Profile.key == await profile_key_named(session, profile))
        rows = (await session.execute(query)).all()
    return [
        _view(found, "server" if key == SERVER_KEY else (name or key), base, cand, ex, ft)
        for found, key, name, base, cand, ex, ft in rows
    ]


async def approve(database: Database, round_id: int) -> RoundView:
    """Promote a candidate that won and waits for the operator."""
    async with database.sessions.begin() as session:
        found = await session.get(FlywheelRound, round_id)
        if found is None or found.status is not RoundStatus.AWAITING_APPROVAL:
            raise UserError(f"Round {round_id} is not waiting for approval.")
        profile = await session.get_one(Profile, found.profile_id)
        assert found.candidate_version_id is not None
        candidate = await session.get_one(ModelVersion, found.candidate_version_id)
        await promote(session, found, profile, candidate)
    return await _one(database, round_id)


async def rollback(database: Database, profile: str) -> RoundView:
    """Undo a profile's latest promotion: the version it replaced draws again (for a person's
    first profile: none, they draw with the serving version again)."""
    async with database.sessions.begin() as session:
        key = await profile_key_named(session, profile)
        query = (
            select(FlywheelRound, Profile)
            .join(Profile, Profile.id == FlywheelRound.profile_id)
            .where(Profile.key == key, FlywheelRound.status == RoundStatus.PROMOTED)
            .order_by(FlywheelRound.id.desc())
        )
        found = (await session.execute(query)).first()
        if found is None:
            raise UserError(f"The profile of {profile} has no promotion to roll back.")
        promoted, owner = found
        was_its_own = await session.scalar(
            select(FlywheelRound.id).where(
                FlywheelRound.profile_id == owner.id,
                FlywheelRound.candidate_version_id == promoted.baseline_version_id,
            )
        )
        promoted.status = RoundStatus.ROLLED_BACK
        promoted.reason = f"{promoted.reason or ''}; rolled back {utcnow():%Y-%m-%d %H:%M}".lstrip(
            "; "
        )
        owner.version_id = promoted.baseline_version_id if was_its_own else None
        owner.changed_at = utcnow()
        if owner.owner_id is None:
            await serve_only(
                session, [await session.get_one(ModelVersion, promoted.baseline_version_id)]
            )
        round_id = promoted.id
    return await _one(database, round_id)


async def _one(database: Database, round_id: int) -> RoundView:
    return next(view for view in await history(database) if view.id == round_id)


def _view(
    found: FlywheelRound,
    profile: str,
    baseline: str,
    candidate: str | None,
    export_job: str | None,
    fine_tune_job: str | None,
) -> RoundView:
    votes = WinRate(wins=found.wins, losses=found.losses, ties=found.ties)
    low, high = found.interval_low, found.interval_high
    return RoundView(
        id=found.id,
        profile=profile,
        status=found.status.value,
        baseline=baseline,
        candidate=candidate,
        export_job=export_job,
        fine_tune_job=fine_tune_job,
        export_fingerprint=found.export_fingerprint,
        signals=found.signals,
        votes=votes,
        interval=(low, high) if low is not None and high is not None else None,
        reason=found.reason,
        created_at=found.created_at,
        decided_at=found.decided_at,
    )
