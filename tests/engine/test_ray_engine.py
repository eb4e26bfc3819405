"""The engine as a Ray Serve application on a local cluster: the same pictures as the local
engine from any of its replicas, grids of several people gathered into shared pipeline calls
(the replicas' own counts), steps streamed back as they are drawn."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL.Image import Image

from engine import EngineError, LocalEngine, ModelInfo, Progress, ScoreRequest
from tests.engine.support import RequestFactory
from tests.engine.test_adapters import make_adapter
from tests.fixtures.ray_cluster import LocalCluster

if TYPE_CHECKING:
    from engine.ray_serve.client import RayEngine

serve = pytest.importorskip("ray.serve")

pytestmark = pytest.mark.slow


def pixels(images: list[Image]) -> list[Any]:
    return [np.asarray(image).tolist() for image in images]


def draw_totals(application: str) -> dict[str, int]:
    from engine.ray_serve.cluster import engine_status

    (status,) = [found for found in engine_status() if found.name == application]
    assert len(status.replicas) == 2, status
    return {
        count: sum(report[count] for report in status.replicas)
        for count in ("calls", "requests", "images", "shared_calls")
    }


@pytest.fixture
def cluster_engine(ray_cluster: LocalCluster) -> RayEngine:
    from engine.ray_serve.client import RayEngine

    return RayEngine("auto")


async def test_replicas_draw_what_the_local_engine_draws(
    ray_cluster: LocalCluster,
    cluster_engine: RayEngine,
    local_engine: LocalEngine,
    request_for: RequestFactory,
    tiny_model_dir: Path,
) -> None:
    engine = cluster_engine
    model = str(tiny_model_dir)
    assert await engine.describe(model) == ModelInfo(model, 64, 64, 16, 77)
    assert await engine.count_tokens(model, "a red circle") == 5

    before = draw_totals(ray_cluster.application)
    # Four-image grids, as people get: on a CPU, a call of 2-image requests can round a pixel
    # one level away from the same request drawn alone (the kernels differ per batch size).
    requests = [
        request_for(prompt=f"grid {n}", seeds=tuple(range(n, n + 4))) for n in (1, 5, 9, 13)
    ]
    # Sent at once, as several people's grids are.
    remote = await asyncio.gather(*(engine.generate(request) for request in requests))
    for request, images in zip(requests, remote, strict=True):
        assert pixels(images) == pixels(await local_engine.generate(request))

    after = draw_totals(ray_cluster.application)
    drawn = {count: after[count] - before[count] for count in after}
    assert drawn["requests"] == 4 and drawn["images"] == 16
    # Four grids on two replicas: at least two met on one and shared its pipeline call.
    assert drawn["shared_calls"] >= 1 and drawn["calls"] <= 3


async def test_steps_stream_back_and_upscaling_matches(
    cluster_engine: RayEngine,
    local_engine: LocalEngine,
    request_for: RequestFactory,
    tiny_model_dir: Path,
) -> None:
    engine = cluster_engine
    steps: list[Progress] = []
    (picture, *_) = await engine.generate(request_for(steps=40), steps.append)
    # The first step at once, the last one always, and between them at most a few a second.
    assert steps[0] == Progress(1, 40) and steps[-1] == Progress(40, 40)
    assert [step.step for step in steps] == sorted({step.step for step in steps})

    refine = {"refine_strength": 0.5, "prompt": "a red circle", "seed": 3, "steps": 4}
    refined_steps: list[Progress] = []
    remote = await engine.upscale(
        str(tiny_model_dir), picture, **refine, on_progress=refined_steps.append
    )
    assert remote.size == (128, 128)
    assert pixels([remote]) == pixels(
        [await local_engine.upscale(str(tiny_model_dir), picture, **refine)]
    )
    assert refined_steps and refined_steps[-1] == Progress(2, 2)


async def test_a_model_nobody_serves_is_one_clear_error(cluster_engine: RayEngine) -> None:
    with pytest.raises(EngineError, match="no engine serves some/other-model on the cluster"):
        await cluster_engine.describe("some/other-model")


def test_replica_bounds_become_serve_autoscaling() -> None:
    from engine.ray_serve.application import Scaling

    assert Scaling(replicas=3).deployment_options() == {"num_replicas": 3}
    autoscaled = Scaling(min_replicas=0, max_replicas=4, target_ongoing_requests=1.5)
    assert autoscaled.deployment_options() == {
        "num_replicas": "auto",
        "autoscaling_config": {
            "min_replicas": 0,
            # Scaled to zero, a cluster still starts one replica to answer the first grid.
            "initial_replicas": 1,
            "max_replicas": 4,
            "target_ongoing_requests": 1.5,
        },
    }


async def test_a_lora_version_draws_on_the_cluster_what_it_draws_here(
    cluster_engine: RayEngine,
    local_engine: LocalEngine,
    request_for: RequestFactory,
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    adapter = make_adapter(tiny_model_dir, tmp_path / "tuned", seed=3)
    tuned = request_for(adapter=str(adapter), seeds=(1, 2, 3, 4))
    remote = await cluster_engine.generate(tuned)
    assert pixels(remote) == pixels(await local_engine.generate(tuned))
    assert pixels(remote) != pixels(await cluster_engine.generate(request_for(seeds=(1, 2, 3, 4))))
    # A profile's preference between pictures (what /rate asks) is read on the cluster too.
    asked = ScoreRequest(
        model=str(tiny_model_dir), adapter=str(adapter), prompt="a red circle", images=tuple(remote)
    )
    scores = await cluster_engine.preference_scores(asked)
    assert scores == pytest.approx(await local_engine.preference_scores(asked), abs=1e-6)


async def test_an_adapter_travels_by_its_hash_and_damage_is_refused(
    ray_cluster: LocalCluster, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from engine.adapters import WEIGHTS
    from engine.ray_serve.shipping import AdapterCache, AdapterSender

    adapter = make_adapter(tiny_model_dir, tmp_path / "tuned", seed=4)
    weights = (adapter / WEIGHTS).read_bytes()
    parcel = AdapterSender().parcel(str(adapter))
    # A replica on another machine has no such folder: the bytes come from the object store.
    shutil.rmtree(adapter)
    received = Path(await AdapterCache(tmp_path / "replica").folder_for(parcel))
    assert received.name == parcel.sha256
    assert (received / WEIGHTS).read_bytes() == weights

    forged = replace(parcel, sha256="0" * 64)
    with pytest.raises(EngineError, match="arrived damaged"):
        await AdapterCache(tmp_path / "elsewhere").folder_for(forged)
    assert not (tmp_path / "elsewhere" / forged.sha256).exists()


async def test_a_grid_given_up_while_it_waits_on_a_replica_is_never_drawn(
    ray_cluster: LocalCluster, request_for: RequestFactory, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from engine.ray_serve.application import Scaling, app_name, deploy
    from engine.ray_serve.client import RayEngine
    from engine.ray_serve.cluster import replica_reports
    from engine.ray_serve.replica import ReplicaOptions

    # An application of one replica (the same model, spelt with a trailing slash), so that a
    # second grid has to wait behind the first.
    spec = f"{tiny_model_dir}/"
    deploy(ReplicaOptions(spec, str(tmp_path), device="cpu", threads=1), Scaling(replicas=1))
    engine = RayEngine("auto")

    async def in_hand() -> dict[str, int]:
        while not (reports := (await asyncio.to_thread(replica_reports)).get(app_name(spec))):
            pass
        ((_, report),) = reports
        return report

    try:
        drawing = asyncio.ensure_future(
            engine.generate(replace(request_for(steps=150), model=spec))
        )
        while (await in_hand())["ongoing"] < 1:
            pass
        waiting = asyncio.ensure_future(engine.generate(replace(request_for(), model=spec)))
        while (await in_hand())["ongoing"] < 2:
            pass
        waiting.cancel()
        await drawing
        while (await in_hand())["ongoing"]:
            pass
        assert (await in_hand())["requests"] == 1  # the grid given up on was never drawn
    finally:
        serve.delete(app_name(spec))
