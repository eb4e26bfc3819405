"""``pickloop engine``: the engine's Serve applications on a Ray cluster (PICKLOOP_ENGINE=ray):
deploy one for a model, see their replicas, stop them."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import threading
from typing import Annotated, Any

import typer

from bot.cli.common import JsonOption, fail, read_settings, stderr
from bot.config import Settings

engine_app = typer.Typer(
    help="The engine on a Ray cluster: Serve applications of replicas, one per GPU.",
    no_args_is_help=True,
)

ModelOption = Annotated[
    str | None, typer.Option("--model", help="The model to serve (default PICKLOOP_MODEL).")
]


def ray_names() -> Any:
    """pickloop's Ray modules, or one line on how to install them."""
    try:
        from engine.ray_serve import application, cluster
    except ImportError:
        fail("the engine on a cluster needs Ray: pip install 'pickloop[ray]'", 1)
    return application, cluster


def join(settings: Settings, *, local: bool = False) -> None:
    _, cluster = ray_names()
    from engine.errors import EngineError

    if local:
        cluster.start_local()
        return
    try:
        cluster.connect(settings.ray_address)
    except EngineError as error:
        fail(f"{error} (start one with ray start --head, or try --local)", 1)


def check_cluster_engine(settings: Settings) -> None:
    """With PICKLOOP_ENGINE=ray, a front end joins the cluster as it starts: one line, and no
    start, when the cluster cannot be reached or nothing there serves its model."""
    if settings.engine != "ray":
        return
    _, cluster = ray_names()
    from engine.errors import EngineError

    try:
        cluster.check_served(settings.ray_address, settings.model)
    except EngineError as error:
        fail(str(error), 1)


@engine_app.command("serve")
def serve_engine(
    model: ModelOption = None,
    replicas: Annotated[int, typer.Option("--replicas", min=1, help="Replicas to run.")] = 1,
    min_replicas: Annotated[
        int | None,
        typer.Option("--min-replicas", min=0, help="Autoscale: never fewer replicas."),
    ] = None,
    max_replicas: Annotated[
        int | None,
        typer.Option("--max-replicas", min=1, help="Autoscale: never more replicas."),
    ] = None,
    target_ongoing: Annotated[
        float,
        typer.Option(
            "--target-ongoing",
            help="Autoscale: add replicas while each has more requests than this in hand.",
        ),
    ] = 2.0,
    gpus: Annotated[
        float | None,
        typer.Option(
            "--gpus-per-replica",
            min=0,
            help="GPUs each replica takes (default PICKLOOP_ENGINE_GPUS_PER_REPLICA, or 1 "
            "where the cluster has GPUs and 0 where it has none).",
        ),
    ] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Start a Ray cluster in this process and serve until stopped (Ctrl-C): for "
            "trying the engine on one machine.",
        ),
    ] = False,
) -> None:
    """Deploy (or redeploy) the engine for a model on the Ray cluster at PICKLOOP_RAY_ADDRESS."""
    settings = read_settings()
    application, cluster = ray_names()
    served = model or settings.model
    try:
        scaling = application.Scaling(replicas, min_replicas, max_replicas, target_ongoing)
    except ValueError as error:
        fail(str(error), 2)
    join(settings, local=local)
    from engine.ray_serve.replica import ReplicaOptions

    per_replica = gpus if gpus is not None else settings.engine_gpus_per_replica
    if per_replica is None:
        per_replica = cluster.default_gpus_per_replica()
    options = ReplicaOptions(
        model=served,
        cache_dir=str(settings.model_cache_dir.resolve()),
        device=settings.device,
        dtype=settings.dtype,
        batch_images=settings.engine_batch_images,
        gather_seconds=settings.engine_gather_seconds,
        threads=settings.torch_threads,
        adapters_kept=settings.adapters_kept,
    )
    stderr.print(f"deploying the engine for {served} ...")
    try:
        name = application.deploy(options, scaling, per_replica)
    except Exception as error:
        fail(f"could not deploy the engine for {served}: {str(error).splitlines()[0]}", 1)
    shown = (
        f"{scaling.min_replicas or 1} to {scaling.max_replicas or replicas} replicas"
        if scaling.autoscaled
        else f"{replicas} replica{'s' if replicas != 1 else ''}"
    )
    print(f"serving {served} as {name}: {shown}, {per_replica:g} GPU each")
    if local:
        stderr.print("serving until stopped (Ctrl-C); PICKLOOP_ENGINE=ray pickloop bot uses it")
        _wait_for_interrupt()


@engine_app.command("status")
def engine_status(as_json: JsonOption = False) -> None:
    """The engine's applications on the cluster: replicas, their device, load and batches."""
    settings = read_settings()
    _, cluster = ray_names()
    join(settings)
    found = cluster.engine_status()
    if as_json:
        print(json.dumps([dataclasses.asdict(status) for status in found]))
        return
    if not found:
        print("no engine is deployed on this cluster (pickloop engine serve deploys one)")
        return
    for status in found:
        states = ", ".join(
            f"{count} {state.lower()}" for state, count in status.replica_states.items()
        )
        print(f"{status.name}: {status.status.lower()} ({states or 'no replicas'})")
        if status.message:
            print(f"  {status.message.splitlines()[0]}")
        for report in status.replicas:
            print(
                f"  replica {report['replica']} on {report['device']}: {report['ongoing']} in "
                f"hand; {report['requests']} requests, {report['images']} images in "
                f"{report['calls']} calls, {report['shared_calls']} of them shared"
            )


@engine_app.command("stop")
def engine_stop(model: ModelOption = None) -> None:
    """Stop the engine for a model (--model), or every pickloop engine on the cluster."""
    settings = read_settings()
    application, cluster = ray_names()
    join(settings)
    stopped = cluster.stop_engine([application.app_name(model)] if model else None)
    print(f"stopped {', '.join(stopped)}" if stopped else "no pickloop engine was running")


def _wait_for_interrupt() -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    stderr.print("stopped")
