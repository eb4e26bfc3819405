"""Joining a Ray cluster, and what an operator reads and does there: the engine applications
deployed, their replicas' devices, loads and batches, stopping them."""

from __future__ import annotations

import logging
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


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` ("auto": the one started on this machine with
    ``ray start``; "HOST:6379"; "ray://HOST:10001") unless this process already has."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as error:
        raise EngineUnavailable.wrapping(
            f"cannot reach the Ray cluster at {address}", error
        ) from error


def start_local(cpus: int | None = None) -> None:
    """Start a Ray cluster inside this process (to try the engine on one machine); it ends
    with the process."""
    ray.init(
        num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
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
    reports = _replica_reports(timeout_seconds)
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
                replicas=reports.get(name, []),
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


def _replica_reports(timeout_seconds: float) -> dict[str, list[dict[str, Any]]]:
    actors = [
        entry["name"]
        for entry in ray.util.list_named_actors(all_namespaces=True)
        if entry["namespace"] == _SERVE_NAMESPACE
        and entry["name"].startswith(_REPLICA_ACTOR_PREFIX + APP_PREFIX)
    ]
    pending: dict[ray.ObjectRef[Any], str] = {}
    for actor_name in actors:
        application = actor_name[len(_REPLICA_ACTOR_PREFIX) :].split("#", 1)[0]
        try:
            actor = ray.get_actor(actor_name, namespace=_SERVE_NAMESPACE)
        except ValueError:
            continue  # gone since it was listed
        pending[actor.record_routing_stats.remote()] = application
    ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=timeout_seconds)
    reports: dict[str, list[dict[str, Any]]] = {}
    for reference in ready:
        try:
            report = ray.get(reference)
        except Exception:
            continue  # a replica starting or dying has nothing to say yet
        reports.setdefault(pending[reference], []).append(report)
    for listed in reports.values():
        listed.sort(key=lambda report: str(report.get("replica", "")))
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


def default_gpus_per_replica() -> float:
    """One GPU per replica where the cluster has GPUs, none where it has only CPUs."""
    resources: Callable[[], dict[str, float]] = ray.cluster_resources
    return 1.0 if resources().get("GPU", 0) > 0 else 0.0
