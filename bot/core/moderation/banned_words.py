"""Words a server does not want in prompts (PICKLOOP_BANNED_WORDS), refused before any write."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.core.errors import UserError


class BannedWord(UserError):
    """A prompt with a word on the server's list; the message does not repeat the list."""


class BannedWords:
    """Whole-word, case-insensitive matching: "ass" bans "ass" but not "class" or "assemble"."""

    def __init__(self, words: Iterable[str]) -> None:
        # A phrase matches across any run of spaces, so "a  b" cannot slip past "a b".
        patterns = [
            r"\s+".join(re.escape(part) for part in word.split()) for word in words if word.strip()
        ]
        self._pattern = (
            re.compile(rf"(?<!\w)(?:{'|'.join(patterns)})(?!\w)", re.IGNORECASE)
            if patterns
            else None
        )

    def found_in(self, text: str) -> str | None:
        """The first banned word or phrase in ``text``, as written there; None if clean."""
        if self._pattern is None:
            return None
        match = self._pattern.search(text)
        return match.group(0) if match else None

    def check(self, text: str) -> None:
        """Raise BannedWord when ``text`` holds a banned word or phrase."""
        found = self.found_in(text)
        if found is not None:
            # Naming the word the person typed tells them what to change, and reveals nothing
            # of the rest of the list.
            raise BannedWord(
                f"Your prompt contains “{found}”, a word that isn't allowed here. "
                "Change the prompt and try again."
            )
