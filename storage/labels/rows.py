"""What preference data is made of, between the events that record it and the files that
export it: images as people saw them, the pairs and per-image labels derived from what they
did, and one lossless row per grid.

Derived rows are never stored: they are computed from the append-only events each time
(see DESIGN.md), and each one names the events it came from, so it can be traced back.
Internal ids (``user_id``, ``image_id``) stay inside pickloop; an export pseudonymises people.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class Source(enum.StrEnum):
    """Which kind of human signal a derived row comes from (a column of every export)."""

    UPSCALE = "upscale"  # U-clicks: the clicked image beats the grid's unclicked ones
    VARIATION = "variation"  # V-clicks: a weak positive
    EDIT = "edit"  # zoom out, pan, make square, vary region: a weak positive, as a V-click
    REROLL = "reroll"  # 🔄: the whole grid passed over
    REACTION = "reaction"  # ❤️ ⭐ 👍 👎: explicit, outranks the implicit clicks
    RATING = "rating"  # /rate: a direct pairwise choice
    NOT_CHOSEN = "not_chosen"  # the images of a grid left unclicked when another was U-clicked


@dataclass(frozen=True)
class ShownImage:
    """One image as people were shown it: where it sat, how it was made, by which model."""

    image_id: int
    public_id: str
    job_id: int
    job_public_id: str
    job_kind: str
    position: int
    seed: int
    sha256: str
    width: int
    height: int
    prompt: str
    negative_prompt: str
    model_version: str
    parameters: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class PreferencePair:
    """One person preferred ``winner`` to ``loser`` (or, with ``tie``, neither: then they are
    the left and right pictures as shown)."""

    # Groups the pairs of one decision: one person's clicks on one grid, one /rate answer.
    ranking_id: str
    user_id: int
    caption: str
    winner: ShownImage
    loser: ShownImage
    tie: bool
    source: Source
    event_ids: tuple[int, ...]
    # When the deciding signal was given.
    created_at: datetime


@dataclass(frozen=True)
class ImageLabel:
    """One person's verdict on one image: good (``positive``) or not (KTO-style)."""

    ranking_id: str
    user_id: int
    caption: str
    image: ShownImage
    positive: bool
    source: Source
    event_ids: tuple[int, ...]
    created_at: datetime


@dataclass(frozen=True)
class Action:
    """One thing one person did to a grid (or to one of its images), for the lossless export."""

    event_id: int
    user_id: int
    kind: str  # an EventKind value
    position: int | None  # the image's grid position; None for the whole grid (🔄, a reaction)
    # /rate: the other picture (found in GridRanking.compared_with) and its grid position.
    other_image_id: int | None
    other_position: int | None
    # The job the click started (an upscale, a variation grid, a re-roll), when there was one.
    result_job_public_id: str | None
    created_at: datetime
    # Set when the thing was done to an upscale of the grid image at ``position`` (a reaction
    # on the upscaled picture, a V-click on it): that upscale's image id, in GridRanking.upscales.
    upscale_image_id: int | None = None


@dataclass(frozen=True)
class GridRanking:
    """Everything people did with one grid: the lossless record a ranking is read from."""

    ranking_id: str
    caption: str
    images: tuple[ShownImage, ...]  # by grid position
    actions: tuple[Action, ...]  # in the order they happened
    # The pictures of other grids that /rate answers compared this grid's images with.
    compared_with: tuple[ShownImage, ...] = ()
    # The upscales made from this grid's images (job_kind "upscale"), by image id; the U-click
    # action whose result_job_public_id is an upscale's job_public_id says which image it came from.
    upscales: tuple[ShownImage, ...] = ()
