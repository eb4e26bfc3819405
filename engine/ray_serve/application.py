"""The engine's Serve application: its name, and how it is built and deployed."""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application

from engine.ray_serve.replica import EngineReplica, ReplicaOptions

APP_NAME = "pickloop-engine"


def engine_application(
    options: ReplicaOptions, *, replicas: int = 1, gpus_per_replica: float = 0.0
) -> Application:
    """The application with ``replicas`` replicas, each with ``gpus_per_replica`` GPUs."""
    actor_options: dict[str, Any] = {"num_gpus": gpus_per_replica}
    if gpus_per_replica == 0:
        # A CPU replica asks for no core of its own: its torch threads are set by ``options``.
        actor_options["num_cpus"] = 0
    deployment = serve.deployment(
        name="engine", num_replicas=replicas, ray_actor_options=actor_options
    )(EngineReplica)
    application: Application = deployment.bind(options)
    return application


def deploy(options: ReplicaOptions, *, replicas: int = 1, gpus_per_replica: float = 0.0) -> None:
    """Deploy (or redeploy) the application on the cluster this process is connected to."""
    serve.run(
        engine_application(options, replicas=replicas, gpus_per_replica=gpus_per_replica),
        name=APP_NAME,
        route_prefix=None,
    )
