"""``pickloop profile``: a person's profile (``--p``) from the terminal: how far it is, sharing
it and revoking a share, as ``/profile`` does in Discord."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bot.cli.common import JsonOption, UserOption, acting_person, read_settings, run_app

profile_app = typer.Typer(
    help="Your profile (--p): how far it is, share it, revoke a share.", no_args_is_help=True
)


@profile_app.command("show")
def show(user: UserOption = None, as_json: JsonOption = False) -> None:
    """Your signals, how many more the next training needs, and whether your profile draws."""
    actor = acting_person(read_settings(), user)
    status = run_app(lambda opened: opened.profiles.status(actor))
    if as_json:
        print(json.dumps(status.to_json()))
        return
    state = "trained" if status.trained else "not trained yet"
    if status.under_way is not None:
        state += f"; a new version is being {status.under_way.replace('testing', 'tested')}"
    print(f"profile: {state}")
    print(f"signals: {status.signals} (the next training at {status.next_training_at})")
    if status.changed_at is not None:
        print(f"last changed: {status.changed_at:%Y-%m-%d %H:%M} UTC")
    print(f"--p by default: {'on' if status.default_on else 'off'}")
    for code in status.shares:
        print(f"shared: {code}")


@profile_app.command("share")
def share(user: UserOption = None, as_json: JsonOption = False) -> None:
    """A code others draw with your profile by (--p CODE); it does not say whose it is."""
    actor = acting_person(read_settings(), user)
    code = run_app(lambda opened: opened.profiles.share(actor))
    print(json.dumps({"code": code}) if as_json else code)


@profile_app.command("revoke")
def revoke(
    code: Annotated[str, typer.Argument(help="One of your share codes.")],
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop one of your share codes from working."""
    actor = acting_person(read_settings(), user)
    run_app(lambda opened: opened.profiles.revoke(actor, code))
    print(json.dumps({"revoked": code.strip()}) if as_json else f"revoked {code.strip()}")
