"""The ML libraries' own progress bars and advisories, which a front end may switch off."""

from __future__ import annotations

import diffusers.utils.logging as diffusers_logging
import transformers.utils.logging as transformers_logging


def silence_library_progress() -> None:
    """Hide diffusers' and transformers' loading bars and their warnings below errors.

    pickloop shows its own progress per job; their bars (one per model component on every load)
    and advisories would bury it and the one-line messages the CLI promises.
    """
    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
