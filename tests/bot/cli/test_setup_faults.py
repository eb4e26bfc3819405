"""A wrong installation or configuration (the database, the data folder, the model, the device)
ends in one line on stderr that says what to do, with exit code 1: never a traceback, and
nothing written."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import open_database
from storage.models import ModelVersion
from tests.bot.cli.test_cli import cli_env, pickloop, produced

__all__ = ["cli_env"]  # the fixture, shared with the CLI's main tests


def one_line_failure(code: int, out: str, err: str) -> str:
    assert code == 1, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("pickloop: "), err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("garbage", "is not a database URL"),
        ("postgresql+asyncpg://someone:hunter2@127.0.0.1:port/db", "is not a database URL"),
        ("sqlite:///{tmp}/sync.db", "not asynchronous"),
        ("mysql+aiomysql://root@127.0.0.1/test", "driver that is not installed"),
        ("postgresql+asyncpg://someone:hunter2@127.0.0.1:1/db", "cannot be reached"),
    ],
)
def test_a_database_url_that_cannot_work_is_one_line_and_names_no_password(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    url: str,
    said: str,
) -> None:
    monkeypatch.setenv("PICKLOOP_DATABASE_URL", url.format(tmp=tmp_path))
    err = one_line_failure(*pickloop(capsys, "jobs"))
    assert said in err and "PICKLOOP_DATABASE_URL" in err
    assert "hunter2" not in err
    assert not (tmp_path / "sync.db").exists()


def test_a_data_folder_that_is_a_file_is_refused_and_left_alone(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PICKLOOP_DATABASE_URL")
    data = Path(cli_env["PICKLOOP_DATA_DIR"])
    data.write_text("my notes")
    err = one_line_failure(*pickloop(capsys, "imagine", "a red circle"))
    assert "PICKLOOP_DATA_DIR" in err and "is a file" in err
    assert data.read_text() == "my notes"


def damaged(file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(os.urandom(4096))


def truncated(file: Path) -> None:
    # A real pickloop database cut short, as a full disk or a bad copy leaves it.
    asyncio.run(_made(file))
    with file.open("r+b") as handle:
        handle.truncate(3000)


async def _made(file: Path) -> None:
    database = await open_database(f"sqlite+aiosqlite:///{file}")
    await database.dispose()


@pytest.mark.parametrize("spoil", [damaged, truncated])
def test_a_damaged_sqlite_file_is_one_line_and_is_not_touched(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spoil: object,
) -> None:
    monkeypatch.delenv("PICKLOOP_DATABASE_URL")
    file = Path(cli_env["PICKLOOP_DATA_DIR"]) / "pickloop.db"
    assert callable(spoil)
    spoil(file)
    before = file.read_bytes()
    err = one_line_failure(*pickloop(capsys, "jobs"))
    assert "not a SQLite database" in err and "backup" in err
    assert file.read_bytes() == before


def serving_versions(url: str) -> list[tuple[str, bool]]:
    async def read() -> list[tuple[str, bool]]:
        database = await open_database(url)
        try:
            async with database.sessions() as session:
                rows = await session.execute(
                    select(ModelVersion.name, ModelVersion.serving).order_by(ModelVersion.id)
                )
                return [(name, serving) for name, serving in rows.all()]
        finally:
            await database.dispose()

    return asyncio.run(read())


@pytest.mark.parametrize("broken", ["folder", "file"])
def test_a_model_that_cannot_load_changes_nothing(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    broken: str,
) -> None:
    produced(capsys, "imagine", "a red circle --steps 1")
    url = cli_env["PICKLOOP_DATABASE_URL"]
    before = serving_versions(url)
    assert before == [(Path(cli_env["PICKLOOP_MODEL"]).name, True)]

    not_a_model = tmp_path / "not-a-model"
    if broken == "folder":
        not_a_model.mkdir()
    else:
        not_a_model.write_text("weights, supposedly")
    monkeypatch.setenv("PICKLOOP_MODEL", str(not_a_model))
    err = one_line_failure(*pickloop(capsys, "imagine", "a blue square --steps 1"))
    assert "PICKLOOP_MODEL" in err and "cannot be loaded" in err
    assert serving_versions(url) == before

    # The model that served before still does, with the variable back as it was.
    monkeypatch.setenv("PICKLOOP_MODEL", cli_env["PICKLOOP_MODEL"])
    assert produced(capsys, "imagine", "a blue square --steps 1")["status"] == "done"


def test_a_device_the_machine_lacks_is_one_line(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    monkeypatch.setenv("PICKLOOP_DEVICE", "cuda")
    err = one_line_failure(*pickloop(capsys, "imagine", "a red circle --steps 1"))
    assert "cuda" in err


@pytest.mark.parametrize("fault", ["discord", "database"])
def test_the_bot_that_cannot_start_says_why_in_one_line(
    cli_env: dict[str, str], fault: str
) -> None:
    # No network reaches Discord here (and were there one, it would reject the made-up
    # token): either way the bot ends in one line, with no traceback.
    env = {**os.environ, **cli_env, "PICKLOOP_DISCORD_TOKEN": "made-up.token.value"}
    if fault == "database":
        env["PICKLOOP_DATABASE_URL"] = "postgresql+asyncpg://someone@127.0.0.1:1/db"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "bot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    expected = (
        ("pickloop: cannot reach Discord", "pickloop: Discord rejected")
        if fault == "discord"
        else ("pickloop: the database PICKLOOP_DATABASE_URL",)
    )
    assert last.startswith(expected), result.stderr


@pytest.mark.parametrize("spoil", ["changed", "truncated", "deleted"])
def test_a_damaged_picture_fails_its_upscale_in_one_line_and_show_marks_it(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], spoil: str
) -> None:
    grid = produced(capsys, "imagine", "a red circle --steps 1")
    file = Path(grid["images"][1]["path"])
    if spoil == "changed":
        file.write_bytes(file.read_bytes()[:-1] + b"!")
    elif spoil == "truncated":
        file.write_bytes(file.read_bytes()[:100])
    else:
        file.unlink()

    code, out, err = pickloop(capsys, "upscale", grid["job_id"], "2")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("pickloop: job ") and "failed" in err

    shown = produced(capsys, "show", grid["job_id"])
    problems = [image["problem"] for image in shown["images"]]
    expected = "missing" if spoil == "deleted" else "damaged (its bytes changed)"
    assert problems == [None, expected, None, None]
    code, out, _ = pickloop(capsys, "show", grid["job_id"])
    [marked] = [line for line in out.splitlines() if grid["images"][1]["id"] in line]
    assert f"({expected}: it cannot be shown or used)" in marked


def test_rate_never_offers_a_picture_whose_file_is_gone(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    grid = produced(capsys, "imagine", "a red circle --steps 1")
    intact = {image["id"] for image in grid["images"][:2]}
    for image in grid["images"][2:]:
        Path(image["path"]).unlink()
    pair = produced(capsys, "rate")
    assert {pair["left"]["id"], pair["right"]["id"]} == intact


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        ({"PICKLOOP_DEFAULT_STEPS": "abc"}, "bad setting PICKLOOP_DEFAULT_STEPS: "),
        (
            {"PICKLOOP_DEFAULT_STEPS": "90", "PICKLOOP_MAX_STEPS": "50"},
            "PICKLOOP_DEFAULT_STEPS (90) exceeds PICKLOOP_MAX_STEPS (50)",
        ),
        # Refused at start, not by every flywheel round's training failing on it.
        (
            {"PICKLOOP_FLYWHEEL_EXTRAPOLATE": "10"},
            "bad setting PICKLOOP_FLYWHEEL_EXTRAPOLATE: Input should be less than or equal to 8",
        ),
    ],
)
def test_a_refused_setting_names_its_variables(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    said: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    code, out, err = pickloop(capsys, "jobs")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert said in err and "PICKLOOP_:" not in err and "Value error" not in err


def test_the_libraries_own_progress_bars_stay_off_stderr(cli_env: dict[str, str]) -> None:
    # stderr is a pipe here, as in a service's log: only pickloop's own lines belong there.
    result = subprocess.run(
        [sys.executable, "-m", "bot", "imagine", "a red circle --steps 1"],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Loading" not in result.stderr and "it/s" not in result.stderr, result.stderr


def test_a_cluster_engine_that_cannot_be_reached_is_one_line_and_no_start(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No Ray cluster runs here (the tests on one run last, see tests.fixtures.ray_cluster).
    pytest.importorskip("ray")
    monkeypatch.setenv("PICKLOOP_ENGINE", "ray")
    err = one_line_failure(*pickloop(capsys, "worker"))
    assert "cannot reach the Ray cluster at auto" in err
    err = one_line_failure(*pickloop(capsys, "engine", "status"))
    assert "cannot reach the Ray cluster at auto" in err and "ray start --head" in err


def test_engine_serve_refuses_replica_bounds_that_cannot_hold(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray")
    code, out, err = pickloop(
        capsys, "engine", "serve", "--min-replicas", "3", "--max-replicas", "2"
    )
    assert code == 2 and out == ""
    assert "--max-replicas must be at least 1 and at least --min-replicas" in err
