"""The engine's Serve applications: one per served model, their names, and how they are built
and deployed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.serve import Application

from engine.ray_serve.replica import EngineReplica, ReplicaOptions

APP_PREFIX = "pickloop-"
DEPLOYMENT = "engine"


def app_name(model: str) -> str:
    """The Serve application that serves ``model``: readable (the model's last path part) and
    unique (a hash of the whole spec), so two folders named alike never share one."""
    readable = re.sub(r"[^a-z0-9]+", "-", model.lower().rstrip("/").rsplit("/", 1)[-1])
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"{APP_PREFIX}{readable.strip('-')[:40] or 'model'}-{digest}"


@dataclass(frozen=True)
class Scaling:
    """How many replicas: a fixed number, or bounds Serve's autoscaler keeps to, adding
    replicas while each has more than ``target_ongoing_requests`` grids in hand."""

    replicas: int = 1
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_ongoing_requests: float = 2.0

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError("--replicas must be at least 1")
        low, high = self.min_replicas, self.max_replicas
        if low is not None and low < 0:
            raise ValueError("--min-replicas must not be negative")
        if high is not None and high < max(1, low or 0):
            raise ValueError("--max-replicas must be at least 1 and at least --min-replicas")
        if self.target_ongoing_requests <= 0:
            raise ValueError("the target of ongoing requests must be above 0")

    @property
    def autoscaled(self) -> bool:
        return self.min_replicas is not None or self.max_replicas is not None

    def deployment_options(self) -> dict[str, Any]:
        if not self.autoscaled:
            return {"num_replicas": self.replicas}
        low = self.min_replicas if self.min_replicas is not None else 1
        high = self.max_replicas if self.max_replicas is not None else max(low, self.replicas)
        return {
            "num_replicas": "auto",
            "autoscaling_config": {
                "min_replicas": low,
                "initial_replicas": max(low, 1),
                "max_replicas": high,
                "target_ongoing_requests": self.target_ongoing_requests,
            },
        }


def engine_application(
    options: ReplicaOptions, scaling: Scaling, gpus_per_replica: float = 0.0
) -> Application:
    """The application of ``options.model``, each replica with ``gpus_per_replica`` GPUs."""
    actor_options: dict[str, Any] = {"num_gpus": gpus_per_replica}
    if gpus_per_replica == 0:
        # A CPU replica asks for no core of its own: its torch threads are set by ``options``.
        actor_options["num_cpus"] = 0
    deployment = serve.deployment(
        name=DEPLOYMENT,
        ray_actor_options=actor_options,
        # Room for one batch being drawn and the next one gathering behind it.
        max_ongoing_requests=2 * options.batch_images,
        **scaling.deployment_options(),
    )(EngineReplica)
    application: Application = deployment.bind(options)
    return application


def deploy(options: ReplicaOptions, scaling: Scaling, gpus_per_replica: float = 0.0) -> str:
    """Deploy (or redeploy) the model's application on the cluster this process is connected
    to, and wait until its replicas run; returns the application's name."""
    name = app_name(options.model)
    serve.run(engine_application(options, scaling, gpus_per_replica), name=name, route_prefix=None)
    return name
