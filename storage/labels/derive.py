"""Pairs and per-image labels read from one grid's record: pure functions, no I/O.

The rules (docs/preferences.md has them as a table):

- Each person's doings on a grid are one ranking, ``"<grid public id>:<user id>"``.
- Every image of the grid gets one verdict per person, from the strongest signal they gave it:
  an explicit reaction (❤️ ⭐ 👍 good, 👎 bad; on the image itself or on an upscale of it; the
  latest one wins) outranks a U-click (good), which outranks a V-click (weakly good, tagged
  ``variation``), which outranks a re-roll of the grid (bad). After a U-click anywhere on the
  grid, an image with none of these is ``not_chosen`` (bad). A click on one image is more
  specific than a re-roll of the whole grid, so it wins whichever came first.
- Pairs come only from a person who U-clicked an image of the grid (they chose among four):
  each image judged good by a U-click or a reaction beats each image judged bad. Images only
  V-clicked take no part, so two chosen images are never paired with each other. A /rate answer
  by the same person on the same two images replaces the pair the clicks would give.
- Each /rate answer is its own ranking, ``"rate:<event id>"``: left or right beats the other;
  a tie is one pair with ``tie=True`` (the left picture as ``winner``); a skip yields nothing.
  Only a person's first answer on two pictures counts (the rating service records no second).
- An upscale's own picture is labelled by the reactions on it (the latest wins) or, failing
  those, by a V-click on it (weakly good).
- A reaction on a whole grid, and ❌ (the owner taking a post down), yield no rows; they stay in
  the grid's record.

Every row names the events it was read from (``event_ids``, in id order): for a label, each of
that person's events that bore on the verdict, the overridden ones included; for a pair, those of
both its images; ``created_at`` is when the deciding signal was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storage.labels.rows import (
    Action,
    GridRanking,
    ImageLabel,
    PreferencePair,
    ShownImage,
    Source,
)

UPSCALE = "upscale"
VARIATIONS = frozenset({"vary_subtle", "vary_strong"})
EDITS = frozenset({"zoom_out", "pan", "make_square", "vary_region"})
# Clicks that make more from a picture: the person wants to keep it, a weak positive.
BUILT_ON = VARIATIONS | EDITS
REROLL = "reroll"
GOOD_REACTIONS = frozenset({"favorite", "like"})
BAD_REACTIONS = frozenset({"dislike"})
REACTIONS = GOOD_REACTIONS | BAD_REACTIONS
RATE_LEFT = "rate_left"
RATE_RIGHT = "rate_right"
RATE_TIE = "rate_tie"
RATE_ANSWERS = frozenset({RATE_LEFT, RATE_RIGHT, RATE_TIE})


@dataclass(frozen=True)
class Verdict:
    """One person's verdict on one image, and what it was read from."""

    positive: bool
    source: Source
    decided_by: Action
    event_ids: tuple[int, ...]


def click_ranking_id(ranking: GridRanking, user_id: int) -> str:
    return f"{ranking.ranking_id}:{user_id}"


def rate_ranking_id(event_id: int) -> str:
    return f"rate:{event_id}"


def pairs_of(ranking: GridRanking) -> list[PreferencePair]:
    """Every preference pair the grid's record gives: each person's clicks, then /rate answers."""
    answers = _rate_answers(ranking)
    answered = {(a.user_id, _pictures(ranking, a)) for a in answers}
    pairs: list[PreferencePair] = []
    for user_id, actions in _by_person(ranking.actions):
        pairs.extend(_click_pairs(ranking, user_id, actions, answered))
    for answer in answers:
        pair = _rate_pair(ranking, answer)
        if pair is not None:
            pairs.append(pair)
    return pairs


def labels_of(ranking: GridRanking) -> list[ImageLabel]:
    """Every per-image (KTO) label: each person's verdicts on the grid's images, then on its
    upscales."""
    labels: list[ImageLabel] = []
    for user_id, actions in _by_person(ranking.actions):
        ranking_id = click_ranking_id(ranking, user_id)
        verdicts = grid_verdicts(ranking, actions)
        for position in sorted(verdicts):
            image = _image_at(ranking, position)
            labels.append(_label(ranking, ranking_id, user_id, image, verdicts[position]))
        for upscale in ranking.upscales:
            verdict = _upscale_verdict(upscale, actions)
            if verdict is not None:
                labels.append(_label(ranking, ranking_id, user_id, upscale, verdict))
    return labels


def grid_verdicts(ranking: GridRanking, actions: Sequence[Action]) -> dict[int, Verdict]:
    """One person's verdict on each grid image they gave one (by position); ``actions`` are all
    theirs, in the order they happened."""
    chose = [a for a in actions if _is_choice(a)]
    rerolls = [a for a in actions if a.kind == REROLL]
    verdicts: dict[int, Verdict] = {}
    for image in ranking.images:
        on_image = [a for a in actions if a.position == image.position and _bears_on_image(a)]
        reactions = [a for a in on_image if a.kind in REACTIONS]
        uclicks = [a for a in on_image if _is_choice(a)]
        vclicks = [a for a in on_image if a.kind in BUILT_ON]
        considered = [*on_image, *rerolls]
        if reactions:
            latest = reactions[-1]
            verdict = Verdict(latest.kind in GOOD_REACTIONS, Source.REACTION, latest, ())
        elif uclicks:
            verdict = Verdict(True, Source.UPSCALE, uclicks[0], ())
        elif vclicks:
            verdict = Verdict(True, _built_on(vclicks[0]), vclicks[0], ())
        elif rerolls:
            verdict = Verdict(False, Source.REROLL, rerolls[0], ())
        elif chose:
            verdict = Verdict(False, Source.NOT_CHOSEN, chose[0], ())
            considered = chose
        else:
            continue
        verdicts[image.position] = Verdict(
            verdict.positive, verdict.source, verdict.decided_by, _ids(considered)
        )
    return verdicts


def _click_pairs(
    ranking: GridRanking,
    user_id: int,
    actions: Sequence[Action],
    answered: set[tuple[int, frozenset[int]]],
) -> list[PreferencePair]:
    if not any(_is_choice(a) for a in actions):
        return []
    verdicts = grid_verdicts(ranking, actions)
    chosen = (Source.UPSCALE, Source.REACTION)
    winners = [p for p, v in sorted(verdicts.items()) if v.positive and v.source in chosen]
    losers = [p for p, v in sorted(verdicts.items()) if not v.positive]
    pairs = []
    for w in winners:
        for lo in losers:
            winner, loser = _image_at(ranking, w), _image_at(ranking, lo)
            if (user_id, frozenset((winner.image_id, loser.image_id))) in answered:
                continue
            won, lost = verdicts[w], verdicts[lo]
            reacted = Source.REACTION in (won.source, lost.source)
            pairs.append(
                PreferencePair(
                    ranking_id=click_ranking_id(ranking, user_id),
                    user_id=user_id,
                    caption=ranking.caption,
                    winner=winner,
                    loser=loser,
                    tie=False,
                    source=Source.REACTION if reacted else Source.UPSCALE,
                    event_ids=tuple(sorted({*won.event_ids, *lost.event_ids})),
                    created_at=max(won.decided_by.created_at, lost.decided_by.created_at),
                )
            )
    return pairs


def _rate_answers(ranking: GridRanking) -> list[Action]:
    """The /rate answers that count: a person's first on each two pictures, whose pictures are
    both in the record."""
    seen: set[tuple[int, frozenset[int]]] = set()
    answers = []
    for action in _in_order(ranking.actions):
        if action.kind not in RATE_ANSWERS or _rated(ranking, action) is None:
            continue
        key = (action.user_id, _pictures(ranking, action))
        if key not in seen:
            seen.add(key)
            answers.append(action)
    return answers


def _rate_pair(ranking: GridRanking, answer: Action) -> PreferencePair | None:
    rated = _rated(ranking, answer)
    if rated is None:
        return None
    left, right = rated
    winner, loser = (right, left) if answer.kind == RATE_RIGHT else (left, right)
    return PreferencePair(
        ranking_id=rate_ranking_id(answer.event_id),
        user_id=answer.user_id,
        caption=ranking.caption,
        winner=winner,
        loser=loser,
        tie=answer.kind == RATE_TIE,
        source=Source.RATING,
        event_ids=(answer.event_id,),
        created_at=answer.created_at,
    )


def _rated(ranking: GridRanking, answer: Action) -> tuple[ShownImage, ShownImage] | None:
    """The left and right pictures of a /rate answer (the left one is this grid's)."""
    if answer.position is None or answer.other_image_id is None:
        return None
    left = _image_or_none(ranking, answer.position)
    right = next(
        (
            image
            for image in (*ranking.images, *ranking.compared_with)
            if image.image_id == answer.other_image_id
        ),
        None,
    )
    if left is None or right is None or left.image_id == right.image_id:
        return None
    return left, right


def _pictures(ranking: GridRanking, answer: Action) -> frozenset[int]:
    rated = _rated(ranking, answer)
    assert rated is not None
    return frozenset(image.image_id for image in rated)


def _upscale_verdict(upscale: ShownImage, actions: Sequence[Action]) -> Verdict | None:
    on_upscale = [a for a in actions if a.upscale_image_id == upscale.image_id]
    reactions = [a for a in on_upscale if a.kind in REACTIONS]
    vclicks = [a for a in on_upscale if a.kind in BUILT_ON]
    ids = _ids([*reactions, *vclicks])
    if reactions:
        return Verdict(reactions[-1].kind in GOOD_REACTIONS, Source.REACTION, reactions[-1], ids)
    if vclicks:
        return Verdict(True, _built_on(vclicks[0]), vclicks[0], ids)
    return None


def _built_on(action: Action) -> Source:
    """The source of the weak positive a click that made more from a picture gives it."""
    return Source.VARIATION if action.kind in VARIATIONS else Source.EDIT


def _label(
    ranking: GridRanking, ranking_id: str, user_id: int, image: ShownImage, verdict: Verdict
) -> ImageLabel:
    return ImageLabel(
        ranking_id=ranking_id,
        user_id=user_id,
        caption=ranking.caption,
        image=image,
        positive=verdict.positive,
        source=verdict.source,
        event_ids=verdict.event_ids,
        created_at=verdict.decided_by.created_at,
    )


def _by_person(actions: Iterable[Action]) -> list[tuple[int, list[Action]]]:
    """Each person's actions, in the order they happened, people by id."""
    people: dict[int, list[Action]] = {}
    for action in _in_order(actions):
        people.setdefault(action.user_id, []).append(action)
    return sorted(people.items())


def _in_order(actions: Iterable[Action]) -> list[Action]:
    return sorted(actions, key=lambda a: (a.created_at, a.event_id))


def _is_choice(action: Action) -> bool:
    """A U-click on one of the grid's own images: a choice among the four."""
    on_grid = action.position is not None and action.upscale_image_id is None
    return action.kind == UPSCALE and on_grid


def _bears_on_image(action: Action) -> bool:
    if action.kind in REACTIONS or action.kind in BUILT_ON:
        return True
    return _is_choice(action)


def _image_at(ranking: GridRanking, position: int) -> ShownImage:
    image = _image_or_none(ranking, position)
    assert image is not None
    return image


def _image_or_none(ranking: GridRanking, position: int) -> ShownImage | None:
    return next((i for i in ranking.images if i.position == position), None)


def _ids(actions: Iterable[Action]) -> tuple[int, ...]:
    return tuple(sorted({a.event_id for a in actions}))
