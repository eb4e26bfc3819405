"""How a candidate is judged from its blind votes: the rule, apart from everything that feeds it."""

from __future__ import annotations

import enum

from storage.labels.winrate import WinRate


class Verdict(enum.StrEnum):
    PROMOTE = "promote"
    RETIRE = "retire"
    COLLECT = "collect"


def judge(votes: WinRate, min_votes: int) -> Verdict:
    """Promote a candidate once the 95% interval of its win rate over the version it would
    replace lies above 50%, retire it once the interval lies below, and keep collecting votes
    until then (and until it has ``min_votes``: a few lucky clicks decide nothing)."""
    interval = votes.interval()
    if votes.votes < min_votes or interval is None:
        return Verdict.COLLECT
    low, high = interval
    if low > 0.5:
        return Verdict.PROMOTE
    if high < 0.5:
        return Verdict.RETIRE
    return Verdict.COLLECT


def described(votes: WinRate) -> str:
    """The votes in a few words, as a round's history shows them."""
    interval = votes.interval()
    if interval is None or votes.rate is None:
        return "no votes yet"
    low, high = interval
    return f"won {votes.rate:.0%} of {votes.votes} votes (95% interval {low:.0%} to {high:.0%})"
