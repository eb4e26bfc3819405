"""Errors whose message is meant for the person who asked: front ends show them as they are."""

from __future__ import annotations


class UserError(Exception):
    """A request that cannot be honoured as given; nothing was changed."""


class NotFound(UserError, LookupError):
    """The job, image or model named does not exist."""


class PermissionDenied(UserError):
    """The person may not do this (blocked, or not the owner)."""


class SetupError(Exception):
    """pickloop's environment or configuration is wrong (the database, the data folder, the
    model, the device): the message says what, and what to do, in one line. Not a UserError:
    the request may be fine, the installation is not."""


class ConfirmationNeeded(UserError):
    """A request that makes many jobs at once, which its person confirms first."""

    def __init__(self, jobs: int) -> None:
        super().__init__(f"This prompt makes {jobs} grids. Confirm to make them all.")
        self.jobs = jobs
