"""pickloop's durable record: the database, its migrations and the image store."""

from storage.db import Database, open_database
from storage.ids import new_public_id
from storage.imagestore import (
    CorruptImageError,
    ImageNotFoundError,
    ImageStore,
    ImageStoreError,
    InvalidHashError,
    encode_png,
)
from storage.models import (
    Base,
    Consent,
    Event,
    EventKind,
    FlywheelRound,
    Image,
    Job,
    JobKind,
    JobStatus,
    ModelVersion,
    Origin,
    Profile,
    ProfileShare,
    RoundStatus,
    User,
    utcnow,
)

__all__ = [
    "Base",
    "Consent",
    "CorruptImageError",
    "Database",
    "Event",
    "EventKind",
    "FlywheelRound",
    "Image",
    "ImageNotFoundError",
    "ImageStore",
    "ImageStoreError",
    "InvalidHashError",
    "Job",
    "JobKind",
    "JobStatus",
    "ModelVersion",
    "Origin",
    "Profile",
    "ProfileShare",
    "RoundStatus",
    "User",
    "encode_png",
    "new_public_id",
    "open_database",
    "utcnow",
]
