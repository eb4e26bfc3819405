"""The tables: the durable record of people, jobs, images, model versions and human signals.

This module is the data contract the rest of pickloop relies on (see DESIGN.md). Changing a
column means a new Alembic migration under ``storage/migrations/versions``.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from storage.parameters import JobParameters

# Named constraints make migrations reproducible across SQLite (batch mode) and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PUBLIC_ID_LENGTH = 10


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite keeps no offset and hands back naive values; comparing those with aware ones raises,
    so values are normalised to UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StoredParameters(TypeDecorator[JobParameters]):
    """A job's typed parameters, kept as the JSON object ``JobParameters.stored`` gives."""

    impl = JSON
    cache_ok = True

    def process_bind_param(
        self, value: JobParameters | None, dialect: Dialect
    ) -> dict[str, Any] | None:
        return None if value is None else value.stored()

    def process_result_value(
        self, value: dict[str, Any] | None, dialect: Dialect
    ) -> JobParameters | None:
        return None if value is None else JobParameters.model_validate(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
    }


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as the enum's value in a VARCHAR with a CHECK, so adding a member is a plain
    # migration on both backends (no PostgreSQL ALTER TYPE dance).
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        name=cls.__name__.lower(),
        validate_strings=True,
    )


class Consent(enum.StrEnum):
    UNKNOWN = "unknown"
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"


class JobKind(enum.StrEnum):
    IMAGINE = "imagine"
    VARIATION = "variation"
    REROLL = "reroll"
    UPSCALE = "upscale"
    # Zoom out, pan, make square, vary region: a grid drawn around or into a picture.
    EDIT = "edit"
    # Data work: no pictures, an outcome instead (docs/architecture.md, "Job kinds").
    EXPORT = "export"
    FINE_TUNE = "fine_tune"

    @property
    def makes_pictures(self) -> bool:
        return self not in (JobKind.EXPORT, JobKind.FINE_TUNE)


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class Origin(enum.StrEnum):
    DISCORD = "discord"
    CLI = "cli"


class EventKind(enum.StrEnum):
    UPSCALE = "upscale"
    VARY_SUBTLE = "vary_subtle"
    VARY_STRONG = "vary_strong"
    REROLL = "reroll"
    FAVORITE = "favorite"
    LIKE = "like"
    DISLIKE = "dislike"
    DELETE = "delete"
    RATE_LEFT = "rate_left"
    RATE_RIGHT = "rate_right"
    RATE_TIE = "rate_tie"
    RATE_SKIP = "rate_skip"
    # The tools under an upscaled picture, each making a grid from it (like a V-click).
    ZOOM_OUT = "zoom_out"
    PAN = "pan"
    MAKE_SQUARE = "make_square"
    VARY_REGION = "vary_region"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Exactly one of the two identifies a person: a Discord account or a local (CLI) name.
    discord_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    local_name: Mapped[str | None] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    consent: Mapped[Consent] = mapped_column(_enum(Consent), default=Consent.UNKNOWN)
    blocked: Mapped[bool] = mapped_column(default=False)
    # Per-person defaults from /settings (aspect ratio, steps, guidance, negative suffix, ...).
    defaults: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the person was told what pickloop records (the first-use notice); None: not yet.
    privacy_notice_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        CheckConstraint("(discord_id IS NULL) <> (local_name IS NULL)", name="one_identity"),
    )


class RoundStatus(enum.StrEnum):
    """Where one round of the flywheel stands (docs/flywheel.md)."""

    EXPORTING = "exporting"  # its export job is queued or running
    TRAINING = "training"  # its fine-tune job is queued or running
    COLLECTING = "collecting"  # its candidate is served blind, collecting votes
    AWAITING_APPROVAL = "awaiting_approval"  # it won; the operator approves promotions
    PROMOTED = "promoted"
    RETIRED = "retired"  # it lost, or was set aside
    FAILED = "failed"  # its export or fine-tune failed
    ROLLED_BACK = "rolled_back"  # promoted, then the operator went back to the one before

    @property
    def open(self) -> bool:
        return self in OPEN_ROUNDS


OPEN_ROUNDS = frozenset(
    {
        RoundStatus.EXPORTING,
        RoundStatus.TRAINING,
        RoundStatus.COLLECTING,
        RoundStatus.AWAITING_APPROVAL,
    }
)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Hub id, local folder, or a built-in name such as "embedded".
    base_model: Mapped[str] = mapped_column(String(500))
    lora_path: Mapped[str | None] = mapped_column(String(1000))
    lora_sha256: Mapped[str | None] = mapped_column(String(64))
    serving: Mapped[bool] = mapped_column(default=False)
    # Share of new grids this version serves. Two serving versions are compared blind: each
    # new grid shows two pictures of each (see bot.comparison).
    share: Mapped[float] = mapped_column(Float, default=1.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Short and URL-safe: it travels inside Discord button custom_ids (<= 100 characters).
    public_id: Mapped[str] = mapped_column(String(PUBLIC_ID_LENGTH), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind))
    parent_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    parent_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL", use_alter=True), index=True
    )
    # Empty for data jobs, which have no prompt.
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    # How the pictures are made: size, steps, guidance, and what one kind of job adds.
    parameters: Mapped[JobParameters] = mapped_column(StoredParameters)
    # A fine-tune's training seed; 0 for an export.
    base_seed: Mapped[int] = mapped_column(BigInteger)
    # The version that draws the pictures; a fine-tune's base; for an export, the version
    # serving when it was asked for.
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[Origin] = mapped_column(_enum(Origin))
    # Where the result was posted; never an interaction token or a bot token.
    discord_guild_id: Mapped[int | None] = mapped_column(BigInteger)
    discord_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    discord_message_id: Mapped[int | None] = mapped_column(BigInteger)
    grid_sha256: Mapped[str | None] = mapped_column(String(64))
    # What a data job made (an export's folder and rows, a fine-tune's adapter), once done.
    outcome: Mapped[dict[str, Any] | None] = mapped_column()
    # Which worker runs the job and until when its claim holds; an expired claim on an
    # unfinished job means the worker died and the job is run again.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    # Steps done of the running attempt, written now and then by its worker, so that a front
    # end in another process can show them (docs/architecture.md, "Progress").
    progress_step: Mapped[int | None] = mapped_column()
    progress_total: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    owner: Mapped[User] = relationship(lazy="raise")
    model_version: Mapped[ModelVersion] = relationship(lazy="raise")
    images: Mapped[list[Image]] = relationship(
        back_populates="job",
        foreign_keys="Image.job_id",
        order_by="Image.position",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (Index("ix_jobs_status_created_at", "status", "created_at"),)


class Image(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(PUBLIC_ID_LENGTH + 2), unique=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    # Position in the grid, row-major: 0 1 / 2 3. A single-image job uses 0.
    position: Mapped[int] = mapped_column()
    seed: Mapped[int] = mapped_column(BigInteger)
    # The version that drew this picture: in a blind A/B grid, two of the four come from each
    # of the two versions compared, so the job's own version does not say it.
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    job: Mapped[Job] = relationship(back_populates="images", foreign_keys=[job_id], lazy="raise")

    __table_args__ = (
        UniqueConstraint("job_id", "position", name="uq_images_job_id_position"),
        CheckConstraint("position >= 0 AND position < 4", name="position_in_grid"),
    )


class ImagePrompt(Base):
    """A picture someone gave with their prompt (``/imagine`` attachment, ``/blend``,
    ``pickloop imagine --image``): the job's pictures start from it. The file is kept in the
    image store (re-encoded as PNG, its metadata dropped) and goes with the job."""

    __tablename__ = "image_prompts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    # Its place among the job's image prompts, in the order they were given.
    position: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("job_id", "position", name="uq_image_prompts_job_id_position"),
    )


class Event(Base):
    """One human signal. Append-only: labels and pairs are derived from these, never stored."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
    # The other image of a pairwise /rate choice.
    # Indexed like every referencing column here: PostgreSQL does not index foreign keys by
    # itself, and without one each cascaded delete (a /privacy delete) scans all events.
    other_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
    # What was shown: the grid position of image_id (and of other_image_id for /rate).
    position: Mapped[int | None] = mapped_column()
    other_position: Mapped[int | None] = mapped_column()
    # The job this click started (an upscale, a variation grid, a re-roll), for tracing.
    result_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    origin: Mapped[Origin] = mapped_column(_enum(Origin))
    # Free-form facts about the signal, such as the raw emoji of a reaction.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Profile(Base):
    """A model of someone's taste: a person's own (``--p``) or the server's community one
    (``--p server``), kept better by the flywheel. Its versions are ordinary model versions
    whose adapters were trained on its owner's signals alone (the community's: everyone's who
    may be exported)."""

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "server" for the community profile, "user:<id>" for a person's: one profile each.
    key: Mapped[str] = mapped_column(String(40), unique=True)
    # The person whose signals train it; None for the community profile. Deleting the person
    # deletes their profile (its adapter files go with ``/privacy delete``).
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    # What it draws with now; None until the flywheel first promotes a version of it.
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    # When ``version_id`` last changed (a promotion or a rollback).
    changed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProfileShare(Base):
    """A code that lets others draw with a profile (``--p CODE``) until its owner revokes it.
    The code is random: it says nothing of whose profile it is."""

    __tablename__ = "profile_shares"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class FlywheelRound(Base):
    """One turn of the flywheel for one profile: its data exported, an adapter trained on it,
    registered as a candidate version, served blind against the profile's current version and
    judged by the votes of the people it is for. The row keeps what each decision rested on."""

    __tablename__ = "flywheel_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[RoundStatus] = mapped_column(_enum(RoundStatus))
    # What the candidate is judged against: the version the people it is for drew with when
    # the round began.
    baseline_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    candidate_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    export_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    fine_tune_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    # The fingerprint of the export the candidate was trained on (storage.export).
    export_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The profile's signals when the round began: the next round waits for new ones.
    signals: Mapped[int] = mapped_column(default=0)
    # The votes and the 95% interval of the candidate's win rate when last judged.
    wins: Mapped[int] = mapped_column(default=0)
    losses: Mapped[int] = mapped_column(default=0)
    ties: Mapped[int] = mapped_column(default=0)
    interval_low: Mapped[float | None] = mapped_column(Float)
    interval_high: Mapped[float | None] = mapped_column(Float)
    # Why it ended where it did (a failure's error, "won 41 of 52 votes", ...).
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
