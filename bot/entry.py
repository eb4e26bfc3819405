"""The process entry point of ``pickloop`` and ``python -m bot``."""

from __future__ import annotations

import os


def main() -> None:
    # Set before transformers and diffusers are imported: some of their warnings fire at import
    # time, and an operator who wants them sets these variables to something else.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    from bot.cli.root import main as cli_main

    cli_main()
