"""The engine as a Ray Serve application on a local cluster: the same pictures as the local
engine, from any of its replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine import LocalEngine, ModelInfo
from tests.engine.support import RequestFactory

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A local Ray cluster with the engine deployed on two CPU replicas, with as many torch
    threads as this process: on the CPU the thread count changes the pixels (the order of
    its sums), and Ray would give each replica one."""
    import torch

    from engine.ray_serve.application import deploy
    from engine.ray_serve.replica import ReplicaOptions

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cache = tmp_path_factory.mktemp("replica-cache")
        threads = torch.get_num_threads()
        deploy(ReplicaOptions(str(cache), device="cpu", threads=threads), replicas=2)
        yield
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.mark.usefixtures("cluster")
async def test_replicas_draw_what_the_local_engine_draws(
    local_engine: LocalEngine, request_for: RequestFactory, tiny_model_dir: Path
) -> None:
    from engine.ray_serve.client import RayEngine

    engine = RayEngine()
    model = str(tiny_model_dir)
    assert await engine.describe(model) == ModelInfo(model, 64, 64, 16, 77)
    assert await engine.count_tokens(model, "a red circle") == 5

    requests = [request_for(seeds=(n, n + 1)) for n in (1, 3, 5, 7)]
    # Sent at once, as several people's grids are.
    remote = await asyncio.gather(*(engine.generate(request) for request in requests))
    for request, images in zip(requests, remote, strict=True):
        alone = await local_engine.generate(request)
        assert [np.asarray(image).tolist() for image in images] == [
            np.asarray(image).tolist() for image in alone
        ]
