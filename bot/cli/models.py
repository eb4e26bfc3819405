"""``pickloop models``: the model versions, which one serves, and adding a tuned one."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import plain, read_settings, run_app

if TYPE_CHECKING:
    from bot.core.app import App
    from bot.core.models.registry import VersionView

models_app = typer.Typer(
    help="Model versions: list, add a tuned adapter, serve one or compare two, report.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _as_json(view: VersionView) -> dict[str, object]:
    return asdict(view) | {"created_at": view.created_at.isoformat()}


@models_app.command("list")
def list_versions(as_json: JsonOption = False) -> None:
    """Every model version, the serving one marked."""
    from bot.core.models.registry import ModelRegistry

    views = run_app(lambda opened: ModelRegistry(opened.database).list())
    if as_json:
        print(json.dumps({"versions": [_as_json(view) for view in views]}))
        return
    for view in views:
        mark = "*" if view.serving else " "
        adapter = f" + {view.adapter}" if view.adapter else ""
        print(f"{mark} {view.name:<24} {view.base_model}{adapter}  ({view.images} images)")


@models_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A short name, shown to admins and in exports.")],
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="A LoRA folder `pickloop train` wrote.")
    ] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="Its base model; default PICKLOOP_MODEL.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a version: a base model, with or without a LoRA adapter. It does not serve yet."""
    from bot.core.models.registry import ModelRegistry

    base_model = base or read_settings().model
    view = run_app(lambda opened: ModelRegistry(opened.database).add(name, base_model, adapter))
    if as_json:
        print(json.dumps(_as_json(view)))
    else:
        print(
            f"added {view.name}: {view.base_model}" + (f" + {view.adapter}" if view.adapter else "")
        )


@models_app.command("serve")
def serve(
    name: Annotated[str, typer.Argument(help="The version new grids are drawn by.")],
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="Compare with this version blind: every new grid shows two pictures of each, "
            "at random positions.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make one version draw every new grid, or two share each grid in a blind A/B comparison
    (`--model NAME` in a prompt still picks any one)."""
    from bot.core.models.registry import ModelRegistry

    async def serve_and_list(opened: App) -> list[VersionView]:
        registry = ModelRegistry(opened.database)
        await registry.serve(name, against)
        return await registry.list()

    views = run_app(serve_and_list)
    serving = [view for view in views if view.serving]
    if as_json:
        print(json.dumps({"serving": [_as_json(view) for view in serving]}))
    elif against is None:
        print(f"serving {name}")
    else:
        print(f"comparing {name} with {against} blind: two pictures of each in every new grid")


@models_app.command("report")
def report(as_json: JsonOption = False) -> None:
    """Which version people prefer: win rates from direct votes (U-clicks in blind grids, /rate
    choices) with 95% intervals, and how often each version's pictures got each signal."""
    from bot.core.models.registry import ModelRegistry

    found = run_app(lambda opened: ModelRegistry(opened.database).report())
    if as_json:
        print(json.dumps(found.to_json()))
        return
    if not found.pairs:
        print("no direct votes yet: serve two versions with `pickloop models serve A --against B`")
    for pair in found.pairs:
        rate, interval = pair.votes.rate, pair.votes.interval()
        assert rate is not None and interval is not None  # a pair is listed once it has a vote
        print(
            f"{pair.first} over {pair.second}: {rate:.1%} "
            f"(95% CI {interval[0]:.1%} to {interval[1]:.1%}; {pair.votes.wins} wins, "
            f"{pair.votes.losses} losses, {pair.votes.ties} ties; {pair.from_upscales} from "
            f"U-clicks, {pair.from_ratings} from /rate)"
        )
    for rates in found.versions:
        shares = ", ".join(f"{label} {share:.1%}" for label, share in rates.rates.items())
        print(f"{rates.version}: {rates.images} grid pictures; {shares}")


ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", help="One profile's rounds: server, or a person (local name or Discord id)."
    ),
]


@models_app.command("history")
def history(profile: ProfileOption = None, as_json: JsonOption = False) -> None:
    """What the flywheel did: each round (the newest first), the export it was trained on, its
    candidate's votes against the version it would replace, and the decision."""
    from bot.core.loop.history import history as rounds

    found = run_app(lambda opened: rounds(opened.database, profile))
    if as_json:
        print(json.dumps({"rounds": [view.to_json() for view in found]}))
        return
    if not found:
        print("no rounds yet: the flywheel starts one once a profile has enough signals")
    for view in found:
        data = f"export {view.export_fingerprint[:12]}" if view.export_fingerprint else "no export"
        votes = f"{view.votes.wins}-{view.votes.losses}-{view.votes.ties}"
        interval = (
            f" (95% CI {view.interval[0]:.0%} to {view.interval[1]:.0%})" if view.interval else ""
        )
        print(
            f"round {view.id} {plain(view.profile)}: {view.status}; "
            f"{view.candidate or 'no candidate yet'} against {view.baseline}; {data}; "
            f"votes {votes}{interval}" + (f"; {view.reason}" if view.reason else "")
        )


@models_app.command("rollback")
def rollback(
    profile: Annotated[
        str, typer.Argument(help="server, or a person (local name or Discord id).")
    ] = "server",
    as_json: JsonOption = False,
) -> None:
    """Undo a profile's latest promotion: the version it replaced draws again."""
    from bot.core.loop.history import rollback as roll_back

    view = run_app(lambda opened: roll_back(opened.database, profile))
    if as_json:
        print(json.dumps(view.to_json()))
    else:
        print(f"rolled back round {view.id}: {view.baseline} draws again for {plain(view.profile)}")


@models_app.command("approve")
def approve(
    round_id: Annotated[int, typer.Argument(help="A round waiting for approval (history).")],
    as_json: JsonOption = False,
) -> None:
    """Promote a candidate that won its blind test and waits (PICKLOOP_FLYWHEEL_APPROVAL)."""
    from bot.core.loop.history import approve as approved

    view = run_app(lambda opened: approved(opened.database, round_id))
    if as_json:
        print(json.dumps(view.to_json()))
    else:
        print(f"promoted {view.candidate} for {plain(view.profile)}")
