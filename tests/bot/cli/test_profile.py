"""Profiles and the flywheel from the terminal: ``pickloop profile``, ``--p``, and the
operator's ``models history``, ``approve`` and ``rollback``, with a ``pickloop worker`` turning
the flywheel by itself."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.bot.cli.test_cli import cli_env, pickloop, produced, worker_process

__all__ = ["cli_env"]


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = pickloop(capsys, *args)
    assert (code, out, err.count("\n")) == (2, "", 1), err
    return err


def history_until(capsys: pytest.CaptureFixture[str], status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        rounds = produced(capsys, "models", "history", "--profile", "ann")["rounds"]
        if rounds and rounds[0]["status"] == status:
            return dict(rounds[0])
        assert time.monotonic() < deadline, rounds
        time.sleep(0.3)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_flywheel_from_the_terminal(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = {
        "PICKLOOP_PROFILE_MIN_SIGNALS": "3",
        "PICKLOOP_FLYWHEEL_MIN_NEW_SIGNALS": "1000",
        "PICKLOOP_FLYWHEEL_TRAIN_STEPS": "2",
        "PICKLOOP_FLYWHEEL_SHARE": "1",
        "PICKLOOP_FLYWHEEL_MIN_VOTES": "4",
        "PICKLOOP_FLYWHEEL_APPROVAL": "true",
        "PICKLOOP_FLYWHEEL_CHECK_SECONDS": "0.3",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    cli_env = {**cli_env, **settings}
    assert produced(capsys, "profile", "show", "--user", "ann")["more_needed"] == 3
    assert "no profile yet" in refused(capsys, "imagine", "a red circle --p", "--user", "ann")
    assert "no profile to share" in refused(capsys, "profile", "share", "--user", "ann")
    assert "No one is called" in refused(capsys, "models", "rollback", "ann")
    assert "not waiting" in refused(capsys, "models", "approve", "7")
    assert produced(capsys, "models", "history")["rounds"] == []

    grid = produced(capsys, "imagine", "a red circle", "--user", "ann")
    for index in ("1", "2", "3"):
        produced(capsys, "upscale", grid["job_id"], index, "--user", "ann", "--no-wait")
    assert "no promotion" in refused(capsys, "models", "rollback", "ann")
    with worker_process(cli_env, tmp_path / "worker.log"):
        collecting = history_until(capsys, "collecting")
        assert collecting["export_fingerprint"] and collecting["signals"] == 3
        candidate = collecting["candidate"]
        for _ in range(4):
            grid = produced(capsys, "imagine", "a red circle", "--user", "ann")
            shown = produced(capsys, "show", grid["job_id"])
            index = next(i["index"] for i in shown["images"] if i["model"] == candidate)
            produced(capsys, "upscale", grid["job_id"], str(index), "--user", "ann", "--no-wait")
        waiting = history_until(capsys, "awaiting_approval")
    assert (waiting["wins"], waiting["losses"], waiting["win_rate_ci"][0] > 0.5) == (4, 0, True)

    assert produced(capsys, "models", "approve", str(waiting["round"]))["status"] == "promoted"
    drawn = produced(capsys, "imagine", "a red circle --p", "--user", "ann")
    assert produced(capsys, "show", drawn["job_id"])["model"] == candidate
    code = produced(capsys, "profile", "share", "--user", "ann")["code"]
    shared = produced(capsys, "imagine", f"a red circle --p {code}", "--user", "bob")
    assert produced(capsys, "show", shared["job_id"])["model"] == candidate
    assert produced(capsys, "profile", "show", "--user", "ann")["shares"] == [code]
    produced(capsys, "profile", "revoke", code, "--user", "ann")

    assert produced(capsys, "models", "rollback", "ann")["status"] == "rolled_back"
    assert "no profile yet" in refused(capsys, "imagine", "a red circle --p", "--user", "ann")
