"""Several people's grids, waiting for the engine together, are drawn in one pipeline call."""

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL.Image import Image

from engine import EngineError, GenerationRequest, LocalEngine, Progress
from tests.engine.support import RequestFactory
from tests.engine.test_adapters import make_adapter

Events = list[tuple[str, int]]


async def _queued_while_busy(
    engine: LocalEngine, requests: dict[str, GenerationRequest], cancel: Sequence[str] = ()
) -> tuple[dict[str, list[Image] | BaseException], Events]:
    """Ask for `requests` while the engine's worker is held busy, so that they all wait
    together (those named in `cancel` are given up while waiting), then let the worker go.
    Returns each request's images (or what it raised) and the progress reports in order."""
    events: Events = []
    release = threading.Event()
    busy = asyncio.ensure_future(engine.run_on_engine_thread(release.wait))

    def reporter(name: str) -> Callable[[Progress], None]:
        return lambda progress: events.append((name, progress.step))

    tasks = {
        name: asyncio.ensure_future(engine.generate(request, reporter(name)))
        for name, request in requests.items()
    }
    await asyncio.sleep(0)  # every request is now waiting for the worker
    for name in cancel:
        tasks[name].cancel()
    await asyncio.sleep(0)  # the cancelled ones have stopped waiting
    release.set()
    await busy
    results = await asyncio.gather(*tasks.values(), return_exceptions=True)
    return dict(zip(tasks, results, strict=True)), events


def _same_pixels(first: Sequence[Image], second: Sequence[Image]) -> bool:
    return len(first) == len(second) and all(
        np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first, second, strict=True)
    )


def _in_step(events: Events, names: Sequence[str], steps: int) -> bool:
    """Whether the requests' progress moved together: every one reached step k before any
    reached step k + 1 (one pipeline call reports each step to all of them)."""
    return events == [(name, step) for step in range(1, steps + 1) for name in names]


def _one_after_another(events: Events, names: Sequence[str], steps: int) -> bool:
    return events == [(name, step) for name in names for step in range(1, steps + 1)]


async def test_grids_waiting_together_are_drawn_in_one_call_as_each_would_be_alone(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    requests = {
        "ann": request_for(seeds=(1, 2, 3, 4)),
        "bob": request_for(prompt="a green star on a yellow background", seeds=(5, 6, 7, 8)),
        "cat": request_for(negative_prompt="blue", seeds=(1, 2, 3, 4)),
        "dan": request_for(negative_prompt="red", seeds=(9, 10, 11, 12)),
    }

    drawn, events = await _queued_while_busy(local_engine, requests)

    # Grids with a negative prompt go together, and those without one (which some pipelines
    # draw differently from an empty one) go together.
    assert _in_step(events[:6], ["ann", "bob"], steps=3)
    assert _in_step(events[6:], ["cat", "dan"], steps=3)
    for name, request in requests.items():
        alone = await local_engine.generate(request)
        assert _same_pixels(drawn[name], alone), name  # type: ignore[arg-type]
    # Their own prompts and seeds, not a neighbour's.
    assert not _same_pixels(drawn["ann"], drawn["bob"])  # type: ignore[arg-type]
    assert not _same_pixels(drawn["ann"], drawn["cat"])  # type: ignore[arg-type]


async def test_requests_that_cannot_share_a_call_are_drawn_one_after_another(
    local_engine: LocalEngine, request_for: RequestFactory, circle_picture: Image
) -> None:
    requests = {
        "square": request_for(seeds=(1,)),
        "wide": request_for(width=128, seeds=(2,)),
        "variation": request_for(seeds=(3,), init_image=circle_picture, strength=1.0),
        "square again": request_for(seeds=(4,)),
    }

    drawn, events = await _queued_while_busy(local_engine, requests)

    sizes = {name: [image.size for image in images] for name, images in drawn.items()}  # type: ignore[union-attr]
    assert sizes == {
        "square": [(64, 64)],
        "wide": [(128, 64)],
        "variation": [(64, 64)],
        "square again": [(64, 64)],
    }
    # The first square takes the one like it along; the others wait for their own turns.
    assert events[:6] == [(name, step) for step in (1, 2, 3) for name in ("square", "square again")]
    assert _one_after_another(events[6:], ["wide", "variation"], steps=3)


async def test_grids_of_people_with_different_profiles_are_never_drawn_in_one_call(
    local_engine: LocalEngine, request_for: RequestFactory, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A profile is a LoRA adapter: the pipeline draws a call with one adapter on, so grids of
    two profiles wait for their own calls, and each is drawn as it would be alone."""
    ann = str(make_adapter(tiny_model_dir, tmp_path / "ann", seed=1))
    bob = str(make_adapter(tiny_model_dir, tmp_path / "bob", seed=2))
    requests = {
        "ann": request_for(seeds=(1, 2, 3, 4), adapter=ann),
        "bob": request_for(seeds=(5, 6, 7, 8), adapter=bob),
        "ann again": request_for(seeds=(9, 10, 11, 12), adapter=ann),
        "base": request_for(seeds=(13, 14, 15, 16)),
    }

    drawn, events = await _queued_while_busy(local_engine, requests)

    assert _in_step(events[:6], ["ann", "ann again"], steps=3)
    assert _one_after_another(events[6:], ["bob", "base"], steps=3)
    for name, request in requests.items():
        alone = await local_engine.generate(request)
        assert _same_pixels(drawn[name], alone), name  # type: ignore[arg-type]


async def test_a_call_gathers_no_more_images_than_the_engine_allows(
    tmp_path: Path, request_for: RequestFactory
) -> None:
    engine = LocalEngine(tmp_path, device="cpu", batch_images=6)
    try:
        drawn, events = await _queued_while_busy(
            engine,
            {
                "ann": request_for(seeds=(1, 2, 3, 4)),
                "bob": request_for(seeds=(5, 6, 7, 8)),
                "cat": request_for(seeds=(9, 10)),
            },
        )
    finally:
        await engine.close()

    assert [len(images) for images in drawn.values()] == [4, 4, 2]  # type: ignore[arg-type]
    # Ann's grid and Cat's two pictures fit in six; Bob's grid waits for the next call.
    assert events == [
        *[(name, step) for step in (1, 2, 3) for name in ("ann", "cat")],
        *[("bob", step) for step in (1, 2, 3)],
    ]


async def test_a_grid_that_finds_the_engine_idle_waits_a_moment_for_others_to_join(
    tmp_path: Path, request_for: RequestFactory
) -> None:
    engine = LocalEngine(tmp_path, device="cpu", batch_images=8, gather_seconds=30)
    events: Events = []
    try:
        first = asyncio.ensure_future(
            engine.generate(
                request_for(seeds=(1, 2, 3, 4)), lambda p: events.append(("ann", p.step))
            )
        )
        await asyncio.sleep(0.05)  # the worker holds Ann's grid, waiting for company
        second = await engine.generate(
            request_for(seeds=(5, 6, 7, 8)), lambda p: events.append(("bob", p.step))
        )
        drawn = [await first, second]
    finally:
        await engine.close()

    # Bob's grid fills the call, which starts at once: no one waits out the 30 seconds.
    assert [len(images) for images in drawn] == [4, 4]
    assert _in_step(events, ["ann", "bob"], steps=3)


async def test_a_request_given_up_while_waiting_is_not_drawn(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    drawn, events = await _queued_while_busy(
        local_engine,
        {
            "ann": request_for(seeds=(1,)),
            "bob": request_for(seeds=(2,)),
            "cat": request_for(seeds=(3,)),
        },
        cancel=["bob"],
    )

    assert isinstance(drawn["bob"], asyncio.CancelledError)
    assert [len(drawn["ann"]), len(drawn["cat"])] == [1, 1]  # type: ignore[arg-type]
    assert _in_step(events, ["ann", "cat"], steps=3)


async def test_every_request_of_a_failed_call_gets_the_error_none_waits_forever(
    local_engine: LocalEngine, request_for: RequestFactory, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-model")

    drawn, events = await _queued_while_busy(
        local_engine,
        {
            "ann": request_for(model=missing, seeds=(1,)),
            "bob": request_for(model=missing, seeds=(2,)),
            "cat": request_for(seeds=(3,)),
        },
    )

    assert isinstance(drawn["ann"], EngineError) and isinstance(drawn["bob"], EngineError)
    assert len(drawn["cat"]) == 1  # type: ignore[arg-type]
    assert events == [("cat", step) for step in (1, 2, 3)]


def test_an_engine_must_be_allowed_at_least_one_image_a_call_and_no_negative_wait(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="batch_images"):
        LocalEngine(tmp_path, device="cpu", batch_images=0)
    with pytest.raises(ValueError, match="gather_seconds"):
        LocalEngine(tmp_path, device="cpu", gather_seconds=-1)
