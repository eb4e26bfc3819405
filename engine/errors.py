from typing import Self


class EngineError(Exception):
    """A model could not be loaded or run; the message is one line, fit to show a user."""

    @classmethod
    def wrapping(cls, context: str, error: BaseException) -> Self:
        # Library errors often run to several lines of advice; the first one says what happened.
        lines = [line for line in str(error).splitlines() if line.strip()]
        reason = lines[0].strip() if lines else type(error).__name__
        return cls(f"{context}: {reason}")


class EngineUnavailable(EngineError):
    """The engine cannot be reached (its cluster is down or gone): the work is not at fault and
    can wait until it is back."""
