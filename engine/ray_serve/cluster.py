"""Joining a Ray cluster, and what an operator reads and does there: the engine applications
deployed, their replicas' devices, loads and batches, stopping them."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from ray import serve

from engine.errors import EngineUnavailable
from engine.ray_serve.application import APP_PREFIX, DEPLOYMENT, app_name

# Serve names each replica's actor "SERVE_REPLICA::<application>#<deployment>#<id>" in its
# namespace; the names are how an operator's command finds every replica, not one at random.
_SERVE_NAMESPACE = "serve"
_REPLICA_ACTOR_PREFIX = "SERVE_REPLICA::"


# How long joining a cluster may take: an address where nothing answers would hold ray.init
# (and a front end starting) for many minutes.
CONNECT_TIMEOUT_SECONDS = 30.0

# Ray's own notices (that a thread set no signal handler, that a retry is under way) would
# bury pickloop's one line of what went wrong: only its errors are shown.
_RAY_LOG_LEVEL = logging.ERROR
os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
# A Ray driver whose cluster's control store stays away this long ends its own process (60 s by
# default): a bot would stop answering Discord for an outage of its engine. This process lets
# go of a cluster that stopped answering (see RayEngine) and joins again once it is back.
os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(10 * 365 * 24 * 3600))

# A join still under way after its caller stopped waiting (see ``connect``).
_joining: threading.Thread | None = None


def connect(address: str, timeout_seconds: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Join the Ray cluster at ``address`` ("auto": the one started on this machine with
    ``ray start``; "HOST:PORT" of its head; "ray://HOST:10001") unless this process already has;
    EngineUnavailable when it cannot within ``timeout_seconds``."""
    global _joining
    if ray.is_initialized():
        return
    if _joining is not None and _joining.is_alive():
        # Two joins at once would fight over Ray's process-wide state: the first one goes on.
        raise EngineUnavailable(f"still trying to reach the Ray cluster at {address}")
    failed: list[BaseException] = []

    def join() -> None:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=_RAY_LOG_LEVEL)
        except BaseException as error:
            failed.append(error)

    # A thread of its own, not waited for at exit: ray.init cannot be interrupted.
    _joining = threading.Thread(target=join, name="pickloop-ray-join", daemon=True)
    _joining.start()
    _joining.join(timeout_seconds)
    if _joining.is_alive():
        raise EngineUnavailable(
            f"cannot reach the Ray cluster at {address}: no answer within {timeout_seconds:g} s"
        )
    if failed:
        raise EngineUnavailable.wrapping(
            f"cannot reach the Ray cluster at {address}", failed[0]
        ) from failed[0]


def start_local(cpus: int | None = None) -> None:
    """Start a Ray cluster inside this process (to try the engine on one machine); it ends
    with the process. A new one, even where ``ray start`` runs one on this machine already."""
    ray.init(
        address="local",
        num_cpus=cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=_RAY_LOG_LEVEL,
    )


@dataclass(frozen=True)
class ApplicationStatus:
    name: str
    status: str
    """Serve's word for it: RUNNING, DEPLOYING, DEPLOY_FAILED, UNHEALTHY, DELETING."""
    replica_states: dict[str, int]
    message: str
    replicas: list[dict[str, Any]]
    """Each running replica's own report (see ``EngineReplica.record_routing_stats``)."""


def engine_status(timeout_seconds: float = 10.0) -> list[ApplicationStatus]:
    """Every pickloop engine application on the cluster, with what each replica reports."""
    reports = replica_reports(timeout_seconds)
    found: list[ApplicationStatus] = []
    for name, application in sorted(serve.status().applications.items()):
        if not name.startswith(APP_PREFIX):
            continue
        deployment = application.deployments.get(DEPLOYMENT)
        found.append(
            ApplicationStatus(
                name=name,
                status=str(getattr(application.status, "value", application.status)),
                replica_states=(
                    {str(state): count for state, count in deployment.replica_states.items()}
                    if deployment
                    else {}
                ),
                message=application.message or (deployment.message if deployment else ""),
                replicas=[report for _, report in reports.get(name, [])],
            )
        )
    return found


def stop_engine(names: list[str] | None = None) -> list[str]:
    """Delete the named engine applications (all of pickloop's when None); returns their names."""
    deployed = [name for name in serve.status().applications if name.startswith(APP_PREFIX)]
    chosen = deployed if names is None else [name for name in deployed if name in names]
    for name in chosen:
        serve.delete(name)
    return chosen


def replica_actors() -> dict[str, list[Any]]:
    """The actor of every running replica of pickloop's applications, per application."""
    found: dict[str, list[Any]] = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry["name"]
        if entry["namespace"] != _SERVE_NAMESPACE or not name.startswith(
            _REPLICA_ACTOR_PREFIX + APP_PREFIX
        ):
            continue
        application = name[len(_REPLICA_ACTOR_PREFIX) :].split("#", 1)[0]
        try:
            found.setdefault(application, []).append(
                ray.get_actor(name, namespace=_SERVE_NAMESPACE)
            )
        except ValueError:
            continue  # gone since it was listed
    return found


def replica_reports(timeout_seconds: float = 10.0) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    """Each running replica's actor and own report, per application, in replica order."""
    pending: dict[ray.ObjectRef[Any], tuple[str, Any]] = {}
    for application, actors in replica_actors().items():
        for actor in actors:
            pending[actor.record_routing_stats.remote()] = (application, actor)
    ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=timeout_seconds)
    reports: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for reference in ready:
        try:
            report = ray.get(reference)
        except Exception:
            continue  # a replica starting or dying has nothing to say yet
        application, actor = pending[reference]
        reports.setdefault(application, []).append((actor, report))
    for listed in reports.values():
        listed.sort(key=lambda pair: str(pair[1].get("replica", "")))
    return reports


def check_served(address: str, model: str) -> None:
    """Join the cluster and make sure ``model`` has an application there: what a front end
    that draws through the cluster checks before it starts."""
    connect(address)
    if app_name(model) not in serve.status().applications:
        raise EngineUnavailable(
            f"no engine serves {model} on the Ray cluster at {address}: run pickloop engine "
            f"serve --model {model} there"
        )


def cluster_resources() -> dict[str, float]:
    """What the cluster has in all (CPU, GPU, memory...): a question to its control store,
    which raises when it no longer answers."""
    resources: Callable[[], dict[str, float]] = ray.cluster_resources
    return resources()


def default_gpus_per_replica() -> float:
    """One GPU per replica where the cluster has GPUs, none where it has only CPUs."""
    return 1.0 if cluster_resources().get("GPU", 0) > 0 else 0.0
