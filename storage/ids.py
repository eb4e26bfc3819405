"""Public ids: the short names jobs and images go by outside the database.

Jobs and images both get a random id rather than one derived from another (such as
``<job id>-<position>`` for an image): an image keeps its own name wherever it travels (an
upscale, a ``/rate`` pair, an exported dataset), and a random id reveals nothing about how
many jobs exist or who made them. Lowercase letters and digits only, because the ids go into
Discord button custom_ids and URLs and people type them into the CLI, where case would
only be a source of mistakes. 36**10 values make a collision negligible; the unique
constraints on ``public_id`` catch one anyway.
"""

from __future__ import annotations

import secrets
import string

from storage.models import PUBLIC_ID_LENGTH

PUBLIC_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_public_id() -> str:
    return "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(PUBLIC_ID_LENGTH))
