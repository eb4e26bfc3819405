"""The flywheel: by itself, it curates and exports each profile's data, trains a candidate on
it, registers it, serves it blind against the profile's current version and promotes or retires
it by its votes, for the server's community profile and for each person's own.

Every turn (a worker turns it every ``PICKLOOP_FLYWHEEL_CHECK_SECONDS``) looks at the rounds in
the database and moves each as far as it can:

- a profile whose signals reached the next training (a person's first at
  ``PICKLOOP_PROFILE_MIN_SIGNALS``, every later one and the server's at
  ``PICKLOOP_FLYWHEEL_MIN_NEW_SIGNALS`` more; the server's also on a schedule) gets a round,
  and an export job of its data (a person's own signals only) is queued with it, in one
  transaction;
- a round whose export is done gets its fine-tune job (the loop's recipe, ``recipe.py``);
- a round whose fine-tune is done registers its adapter as a candidate version, which new grids
  then compare blind with the version it would replace on ``PICKLOOP_FLYWHEEL_SHARE`` of grids
  (``JobService.imagine``);
- a candidate with ``PICKLOOP_FLYWHEEL_MIN_VOTES`` votes is judged (``decisions.judge``): from the
  votes of everyone for the server's profile, of its owner alone for a person's.

Every step is a job of the queue or a row of ``flywheel_rounds`` with what it rested on, so a
turn can stop anywhere (a worker dies) and the next one, in any process, carries on. Two
processes turning at once cannot both move a round: each move is a compare-and-set on its status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.actor import Actor
from bot.core.app import App
from bot.core.data.exports import time_stamp
from bot.core.errors import UserError
from bot.core.loop.decisions import Verdict, described, judge
from bot.core.loop.recipe import LOOP_TRAINING, preference_training
from bot.core.models.profiles import next_training_at
from bot.core.models.registry import ModelRegistry, serve_only, serving_versions
from engine.train.options import Method
from storage.db import rows_changed
from storage.labels.versions import VoteBook, vote_book
from storage.models import (
    Event,
    FlywheelRound,
    Job,
    JobKind,
    JobStatus,
    ModelVersion,
    Profile,
    RoundStatus,
    User,
    utcnow,
)
from storage.parameters import ExportRequest, FineTuneRequest, JobParameters
from storage.profiles import (
    SERVER_KEY,
    get_or_create_profile,
    open_round,
    personal_key,
    profile_by_key,
    profile_folder,
    rounds_of,
    signals_of,
)

log = logging.getLogger(__name__)

# Who the flywheel's jobs belong to: the operator's loop, not any person.
FLYWHEEL_ACTOR = Actor.local("pickloop-flywheel")


class Superseded(Exception):
    """Another process moved the round (or started one) first: this move is undone."""


@dataclass(frozen=True)
class Happened:
    """One thing a turn did, for the log and the loop demo."""

    round_id: int
    profile: str
    what: str  # started, training, candidate, promoted, awaiting_approval, retired, failed
    detail: str = ""


class Flywheel:
    def __init__(self, app: App) -> None:
        self._app = app
        self._settings = app.settings
        self._registry = ModelRegistry(app.database)

    async def turn(self) -> list[Happened]:
        """Move every round as far as it can go now, then start the rounds that are due."""
        if not self._settings.flywheel:
            return []
        happened = [*await self._advance(), *await self._judge()]
        happened += await self._start_rounds()
        for event in happened:
            log.info(
                "flywheel: %s round %d %s %s",
                event.profile,
                event.round_id,
                event.what,
                event.detail,
            )
        return happened

    # --- starting rounds -------------------------------------------------------------------

    async def _start_rounds(self) -> list[Happened]:
        async with self._app.database.sessions() as session:
            people = (
                (
                    await session.execute(
                        select(Event.user_id)
                        .join(User, User.id == Event.user_id)
                        .where(User.blocked.is_(False))
                        .group_by(Event.user_id)
                        .having(func.count(Event.id) >= self._settings.profile_min_signals)
                        .order_by(Event.user_id)
                    )
                )
                .scalars()
                .all()
            )
        started = []
        for owner in [*people, None]:
            found = await self._start_if_due(owner)
            if found is not None:
                started.append(found)
        return started

    async def _start_if_due(self, owner: int | None) -> Happened | None:
        key = SERVER_KEY if owner is None else personal_key(owner)
        async with self._app.database.sessions() as session:
            profile = await profile_by_key(session, key)
            if profile is not None and await open_round(session, profile.id) is not None:
                return None
            signals = await signals_of(session, owner)
            rounds = await rounds_of(session, profile.id) if profile is not None else []
            if not self._due(owner, signals, rounds):
                return None
            baseline = await self._current_version(session, profile)
        out = (
            profile_folder(self._settings.profiles_dir, key) / f"round-{time_stamp()}" / "export"
        ).resolve()
        # The training set's layout says how the round's candidate learns (``_train``).
        layout = "pairs" if self._settings.flywheel_method == "dpo" else "kto"
        request = ExportRequest(format=layout, out=str(out), person=owner, internal=True)
        round_ids: list[int] = []

        async def with_job(session: AsyncSession, job: Job) -> None:
            profile = await get_or_create_profile(session, owner)
            await _lock(session, profile)
            if await open_round(session, profile.id) is not None:
                raise Superseded
            started = FlywheelRound(
                profile_id=profile.id,
                status=RoundStatus.EXPORTING,
                baseline_version_id=baseline.id,
                export_job_id=job.id,
                signals=signals,
            )
            session.add(started)
            await session.flush()
            round_ids.append(started.id)

        if not await self._queue(JobParameters.for_data(export=request), with_job):
            return None
        return Happened(round_ids[0], key, "started", f"{signals} signals")

    async def _queue(
        self, parameters: JobParameters, with_job: Callable[[AsyncSession, Job], Awaitable[None]]
    ) -> bool:
        """Queue the flywheel's export or fine-tune job with what ``with_job`` writes beside it;
        False when another process moved the round first (then nothing was written)."""
        kind = JobKind.EXPORT if parameters.export is not None else JobKind.FINE_TUNE
        try:
            await self._app.service.queue_data_job(
                FLYWHEEL_ACTOR, kind, parameters, with_job=with_job
            )
        except Superseded:
            return False
        return True

    def _due(self, owner: int | None, signals: int, rounds: list[FlywheelRound]) -> bool:
        """Whether a profile with these signals and these rounds (newest first) gets a new one."""
        last = rounds[0] if rounds else None
        at = next_training_at(
            last.signals if last is not None else None, self._settings, server=owner is None
        )
        if signals >= at:
            return True
        every = self._settings.flywheel_every_hours
        return (
            owner is None
            and last is not None
            and every > 0
            and signals > last.signals
            and utcnow() - last.created_at >= timedelta(hours=every)
        )

    async def _current_version(
        self, session: AsyncSession, profile: Profile | None
    ) -> ModelVersion:
        """What the people a profile is for draw with now: its version, once it has one; the
        serving version before (the server's profile draws what serves)."""
        if profile is not None and profile.version_id is not None and profile.owner_id:
            return await session.get_one(ModelVersion, profile.version_id)
        serving = await serving_versions(session)
        if serving:
            return serving[0]
        default = await self._app.service.ensure_default_model(load=False)
        assert default is not None
        return default

    # --- moving rounds on ------------------------------------------------------------------

    async def _advance(self) -> list[Happened]:
        async with self._app.database.sessions() as session:
            query = (
                select(FlywheelRound, Profile.key, Job)
                .join(Profile, Profile.id == FlywheelRound.profile_id)
                .join(
                    Job,
                    Job.id
                    == func.coalesce(FlywheelRound.fine_tune_job_id, FlywheelRound.export_job_id),
                    isouter=True,
                )
                .where(FlywheelRound.status.in_((RoundStatus.EXPORTING, RoundStatus.TRAINING)))
                .order_by(FlywheelRound.id)
            )
            moving = (await session.execute(query)).all()
        happened = []
        for found, key, job in moving:
            if job is None or job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                why = job.error if job is not None and job.error else "its job is gone"
                if await self._fail(found, why):
                    happened.append(Happened(found.id, key, "failed", why))
            elif job.status is JobStatus.DONE:
                try:
                    if found.status is RoundStatus.EXPORTING:
                        moved = await self._train(found, job)
                    else:
                        moved = await self._register(found, key, job)
                except (UserError, OSError, KeyError, ValueError) as error:
                    # What the job made cannot go on (no liked picture to learn from, an
                    # adapter folder gone): the round ends here, and says why.
                    if await self._fail(found, str(error) or type(error).__name__):
                        happened.append(Happened(found.id, key, "failed", str(error)))
                    continue
                if moved is not None:
                    happened.append(Happened(found.id, key, *moved))
        return happened

    async def _fail(self, found: FlywheelRound, why: str) -> bool:
        async with self._app.database.sessions.begin() as session:
            return bool(
                rows_changed(
                    await session.execute(
                        update(FlywheelRound)
                        .where(FlywheelRound.id == found.id, FlywheelRound.status == found.status)
                        .values(status=RoundStatus.FAILED, reason=why, decided_at=utcnow())
                    )
                )
            )

    async def _train(self, found: FlywheelRound, export: Job) -> tuple[str, str] | None:
        from storage.export import label_counts, split_rows

        outcome = export.outcome or {}
        folder = Path(outcome["folder"])
        method: Method = "dpo" if outcome.get("format") == "pairs" else "kto"
        if method == "dpo":
            pairs = await asyncio.to_thread(split_rows, folder)
            if pairs == 0:
                raise UserError("no preference pair to learn from in its training split")
            positive = negative = pairs  # weighs nothing in DPO's recipe
            learns_from = f"{pairs} preference pairs"
        else:
            positive, negative = await asyncio.to_thread(label_counts, folder)
            if positive == 0:
                raise UserError(
                    "nothing liked to learn from: every picture in its data was passed over"
                )
            learns_from = f"{positive} liked and {negative} passed-over pictures"
        training = preference_training(
            LOOP_TRAINING.changed(
                steps=self._settings.flywheel_train_steps,
                batch_size=self._settings.flywheel_train_batch,
                extrapolate=self._settings.flywheel_extrapolate,
            ),
            method,
            positive_labels=positive,
            negative_labels=negative,
            seed=found.id,
        )
        async with self._app.database.sessions() as session:
            baseline = await session.get_one(ModelVersion, found.baseline_version_id)
        request = FineTuneRequest(
            data=str(folder),
            out=str(folder.parent / "adapter"),
            work=str(folder.parent / "work"),
            model=baseline.base_model,
            training=training.model_dump(mode="json"),
        )

        async def with_job(session: AsyncSession, job: Job) -> None:
            moved = await session.execute(
                update(FlywheelRound)
                .where(FlywheelRound.id == found.id, FlywheelRound.status == RoundStatus.EXPORTING)
                .values(
                    status=RoundStatus.TRAINING,
                    fine_tune_job_id=job.id,
                    export_fingerprint=outcome.get("fingerprint"),
                )
            )
            if not rows_changed(moved):
                raise Superseded

        if not await self._queue(JobParameters.for_data(fine_tune=request), with_job):
            return None
        return "training", learns_from

    async def _register(
        self, found: FlywheelRound, key: str, fine_tune: Job
    ) -> tuple[str, str] | None:
        outcome = fine_tune.outcome or {}
        name = (
            f"server-r{found.id}"
            if key == SERVER_KEY
            else f"profile-{found.profile_id}-r{found.id}"
        )
        async with self._app.database.sessions() as session:
            baseline = await session.get_one(ModelVersion, found.baseline_version_id)
            existing = (
                await session.execute(select(ModelVersion).where(ModelVersion.name == name))
            ).scalar_one_or_none()
        if existing is None:
            # Registered before the round moves: a turn that dies in between finds it here.
            await self._registry.add(name, baseline.base_model, Path(outcome["adapter"]))
        async with self._app.database.sessions.begin() as session:
            candidate = (
                await session.execute(select(ModelVersion.id).where(ModelVersion.name == name))
            ).scalar_one()
            moved = await session.execute(
                update(FlywheelRound)
                .where(FlywheelRound.id == found.id, FlywheelRound.status == RoundStatus.TRAINING)
                .values(status=RoundStatus.COLLECTING, candidate_version_id=candidate)
            )
        if not rows_changed(moved):
            return None
        return "candidate", f"{name} against {baseline.name}"

    # --- judging ---------------------------------------------------------------------------

    async def _judge(self) -> list[Happened]:
        async with self._app.database.sessions() as session:
            query = (
                select(FlywheelRound, Profile)
                .join(Profile, Profile.id == FlywheelRound.profile_id)
                .where(FlywheelRound.status == RoundStatus.COLLECTING)
                .order_by(FlywheelRound.id)
            )
            collecting = (await session.execute(query)).all()
        if not collecting:
            return []
        # Only the grids that show a candidate under test (or a /rate answer on one) can hold
        # a vote it is judged by: the rest of the record is not read.
        candidates = {
            found.candidate_version_id
            for found, _ in collecting
            if found.candidate_version_id is not None
        }
        book = await vote_book(self._app.database, on=candidates)
        happened = []
        for found, profile in collecting:
            event = await self._judge_one(found, profile, book)
            if event is not None:
                happened.append(event)
        return happened

    async def _judge_one(
        self, found: FlywheelRound, profile: Profile, book: VoteBook
    ) -> Happened | None:
        async with self._app.database.sessions.begin() as session:
            current = await session.get_one(FlywheelRound, found.id)
            if current.status is not RoundStatus.COLLECTING:
                return None
            profile = await session.get_one(Profile, profile.id)
            assert current.candidate_version_id is not None
            candidate = await session.get_one(ModelVersion, current.candidate_version_id)
            baseline = await session.get_one(ModelVersion, current.baseline_version_id)
            now_drawn = await self._current_version(session, profile)
            if now_drawn.id not in (baseline.id, candidate.id):
                # What these people draw with changed under the round (a promotion of the
                # server's profile): the candidate is compared with that from now on.
                current.baseline_version_id = now_drawn.id
                current.reason = f"compared with {now_drawn.name} since {utcnow():%Y-%m-%d %H:%M}"
                return None
            people = [profile.owner_id] if profile.owner_id is not None else None
            votes = book.between(candidate.name, baseline.name, people)
            interval = votes.interval()
            current.wins, current.losses, current.ties = votes.wins, votes.losses, votes.ties
            current.interval_low, current.interval_high = interval or (None, None)
            verdict = judge(votes, self._settings.flywheel_min_votes)
            if verdict is Verdict.COLLECT:
                return None
            current.reason = described(votes)
            current.decided_at = utcnow()
            if verdict is Verdict.RETIRE:
                current.status = RoundStatus.RETIRED
                return Happened(found.id, profile.key, "retired", current.reason)
            if self._settings.flywheel_approval:
                current.status = RoundStatus.AWAITING_APPROVAL
                return Happened(found.id, profile.key, "awaiting_approval", current.reason)
            await promote(session, current, profile, candidate)
            return Happened(found.id, profile.key, "promoted", current.reason)


async def promote(
    session: AsyncSession, found: FlywheelRound, profile: Profile, candidate: ModelVersion
) -> None:
    """Make the round's candidate the profile's version (the server's: the serving one)."""
    await _lock(session, profile)
    found.status = RoundStatus.PROMOTED
    found.decided_at = found.decided_at or utcnow()
    profile.version_id = candidate.id
    profile.changed_at = utcnow()
    if profile.owner_id is None:
        await serve_only(session, [candidate])


async def _lock(session: AsyncSession, profile: Profile) -> None:
    """Hold the profile's row for the rest of the transaction (PostgreSQL; SQLite's write
    transaction holds the whole database already)."""
    await session.execute(select(Profile.id).where(Profile.id == profile.id).with_for_update())
