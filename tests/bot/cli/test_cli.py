"""The ``pickloop`` command as a person uses it: real entry point, real database, real engine."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cli.root import main
from storage.db import open_database
from storage.models import Event, Image, Job, JobStatus, ModelVersion, User

TABLES = (User, Job, Image, Event)


@pytest.fixture
def cli_env(
    tmp_path: Path, database_url: str, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {
        "PICKLOOP_DATA_DIR": str(tmp_path / "data"),
        "PICKLOOP_DATABASE_URL": database_url,
        "PICKLOOP_MODEL": str(tiny_model_dir),
        "PICKLOOP_DEFAULT_STEPS": "2",
        "PICKLOOP_USER": "carol",
    }
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def pickloop(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the console entry point in this process; returns (exit code, stdout, stderr)."""
    argv = sys.argv
    sys.argv = ["pickloop", *args]
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def produced(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = pickloop(capsys, *args, "--json")
    assert code == 0, err
    [line] = out.splitlines()
    payload: dict[str, Any] = json.loads(line)
    return payload


@contextmanager
def worker_process(cli_env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``pickloop worker`` in a process of its own (one torch thread), its stderr in ``log``."""
    with log.open("wb") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", "bot", "worker"],
            env={**os.environ, **cli_env, "PICKLOOP_TORCH_THREADS": "1"},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            yield worker
        finally:
            worker.kill()
            worker.wait()


def shown_until(
    capsys: pytest.CaptureFixture[str], job_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """``show JOB --json`` again and again until ``done`` says so (or five minutes pass)."""
    deadline = time.monotonic() + 300
    while not done(job := produced(capsys, "show", job_id)):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def row_counts(url: str) -> tuple[int, ...]:
    async def count() -> tuple[int, ...]:
        database = await open_database(url)
        try:
            async with database.sessions() as session:
                counts = [
                    await session.execute(select(func.count()).select_from(table))
                    for table in TABLES
                ]
                return tuple(int(result.scalar_one()) for result in counts)
        finally:
            await database.dispose()

    return asyncio.run(count())


def test_imagine_prints_one_json_object_with_the_grid(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    job = produced(capsys, "imagine", "a lighthouse at dusk --ar 16:9 --seed 42")
    assert job["status"] == "done"
    assert job["kind"] == "imagine"
    assert job["owner"] == "carol"
    assert job["seeds"] == [42, 43, 44, 45]
    assert job["parameters"]["aspect"] == "16:9"
    assert job["parameters"]["width"] > job["parameters"]["height"]
    assert Path(job["grid_path"]).is_file()
    assert [image["index"] for image in job["images"]] == [1, 2, 3, 4]
    assert all(Path(image["path"]).is_file() for image in job["images"])
    assert job["resumed_jobs"] == []


def test_the_whole_path_from_the_terminal(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    grid = produced(capsys, "imagine", "a red circle on a blue background")
    upscaled = produced(capsys, "upscale", grid["job_id"], "2", "--user", "dave")
    varied = produced(capsys, "vary", grid["job_id"], "3", "--strong")
    rerolled = produced(capsys, "reroll", grid["job_id"])
    reaction = produced(capsys, "react", grid["images"][0]["id"], "❤️", "--user", "dave")

    assert upscaled["parent_image_id"] == grid["images"][1]["id"]
    assert upscaled["owner"] == "dave"
    assert upscaled["images"][0]["width"] == 2 * grid["images"][1]["width"]
    assert varied["parameters"]["variation"] == "strong"
    assert rerolled["prompt"] == grid["prompt"]
    assert reaction["kind"] == "favorite"

    shown = produced(capsys, "show", grid["job_id"])
    assert shown["images"] == grid["images"]
    assert shown["position"] is None
    # The grid's story: who did what to which picture, and the job each click started.
    assert [(s["who"], s["kind"], s["image"], s["started_job_id"]) for s in shown["story"]] == [
        ("dave", "upscale", 2, upscaled["job_id"]),
        ("carol", "vary_strong", 3, varied["job_id"]),
        ("carol", "reroll", None, rerolled["job_id"]),
        ("dave", "favorite", 1, None),
    ]
    code, out, _ = pickloop(capsys, "show", grid["job_id"])
    assert code == 0 and f"dave upscale U2 -> job {upscaled['job_id']}" in out
    listed = produced(capsys, "jobs", "--all")
    assert {job["job_id"] for job in listed["jobs"]} == {
        grid["job_id"],
        upscaled["job_id"],
        varied["job_id"],
        rerolled["job_id"],
    }
    mine = produced(capsys, "jobs", "--user", "dave")
    assert [job["job_id"] for job in mine["jobs"]] == [upscaled["job_id"]]
    assert row_counts(cli_env["PICKLOOP_DATABASE_URL"]) == (2, 4, 13, 4)


def test_rating_pairs_from_the_terminal(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    grid = produced(capsys, "imagine", "a yellow square")
    pair = produced(capsys, "rate")
    shown = {pair["left"]["id"], pair["right"]["id"]}
    assert pair["prompt"] == "a yellow square"
    assert shown <= {image["id"] for image in grid["images"]} and len(shown) == 2
    assert Path(pair["left"]["path"]).is_file()

    rated = produced(capsys, "rate", pair["left"]["id"], pair["right"]["id"], "right")
    assert (rated["kind"], rated["new"]) == ("rate_right", True)
    # Six pairs in a grid of four; the one answered is not asked again.
    seen = [produced(capsys, "rate") for _ in range(3)]
    assert all({p["left"]["id"], p["right"]["id"]} != shown for p in seen)
    again = produced(capsys, "rate", pair["right"]["id"], pair["left"]["id"], "left")
    assert again["new"] is False
    assert row_counts(cli_env["PICKLOOP_DATABASE_URL"])[3] == 1


def test_human_output_says_where_the_grid_is(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = pickloop(capsys, "imagine", "a small green star")
    assert code == 0, err
    grid_line = next(line for line in out.splitlines() if "grid:" in line)
    assert Path(grid_line.split("grid:", 1)[1].strip()).is_file()


@pytest.mark.parametrize(
    "args",
    [
        ("imagine", "a cat --ar 9:1"),
        ("imagine", "a cat --weird 1"),
        ("imagine", "--seed 4"),
        ("imagine", "a cat --model nosuchmodel"),
        ("upscale", "nosuchjob0", "1"),
        ("upscale", "{job}", "5"),
        ("vary", "{job}", "0"),
        ("vary", "{job}", "two"),
        ("zoom", "{job}", "1", "--factor", "3"),
        ("pan", "{job}", "1", "sideways"),
        ("square", "{job}", "1"),
        ("vary-region", "{job}", "1", "--region", "the-cat"),
        ("vary-region", "{job}", "9", "--region", "centre"),
        ("reroll", "nosuchjob0"),
        ("react", "{image}", "🦄"),
        ("react", "nosuchimage", "like"),
        ("show", "nosuchjob0"),
        ("rate", "{image}"),
        ("rate", "{image}", "{image}", "left"),
        ("rate", "{image}", "{other}", "sideways"),
        ("imagine",),
        ("jobs", "--limit", "0"),
        ("frobnicate",),
    ],
)
def test_garbage_exits_2_with_one_line_and_writes_nothing(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    grid = produced(capsys, "imagine", "a dog")
    before = row_counts(cli_env["PICKLOOP_DATABASE_URL"])
    images = [image["id"] for image in grid["images"]]
    filled = [a.format(job=grid["job_id"], image=images[0], other=images[1]) for a in args]
    code, out, err = pickloop(capsys, *filled, "--user", "mallory")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert row_counts(cli_env["PICKLOOP_DATABASE_URL"]) == before


def test_a_bad_setting_is_one_line_not_a_traceback(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICKLOOP_MAX_STEPS", "lots")
    code, _, err = pickloop(capsys, "imagine", "a cat")
    assert code == 2
    assert "PICKLOOP_MAX_STEPS" in err and len(err.strip().splitlines()) == 1


def test_a_banned_word_is_refused_in_one_line_and_writes_nothing(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICKLOOP_BANNED_WORDS", "ogre, forbidden fruit")
    produced(capsys, "db", "upgrade")
    code, out, err = pickloop(capsys, "imagine", "An OGRE at dawn")
    assert code == 2 and out == ""
    assert "isn't allowed here" in err and len(err.strip().splitlines()) == 1
    assert "forbidden fruit" not in err
    assert row_counts(cli_env["PICKLOOP_DATABASE_URL"]) == (0, 0, 0, 0)


def test_db_upgrade_creates_the_schema(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    result = produced(capsys, "db", "upgrade")
    assert result["upgraded"] is True
    assert row_counts(cli_env["PICKLOOP_DATABASE_URL"]) == (0, 0, 0, 0)
    # Again: nothing left to do, and both outputs say so.
    assert produced(capsys, "db", "upgrade")["upgraded"] is False
    code, out, _ = pickloop(capsys, "db", "upgrade")
    assert code == 0 and out.startswith("database was up to date")


def test_a_command_group_alone_prints_its_help_and_nothing_after(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    for group in ([], ["db"], ["models"], ["toy"], ["train"]):
        _, out, err = pickloop(capsys, *group)
        assert "Usage" in out + err
        assert not any(line.strip() == "pickloop:" for line in (out + err).splitlines())


@pytest.mark.slow
def test_a_killed_imagine_is_finished_by_the_next_start(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**os.environ, **cli_env}
    command = [sys.executable, "-m", "bot"]
    doomed = subprocess.Popen(
        [*command, "imagine", "a slow lighthouse --steps 60 --seed 3", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = cli_env["PICKLOOP_DATABASE_URL"]
    job_id = _wait_for_running_job(url, doomed)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    assert _job(url, job_id)["status"] == JobStatus.RUNNING

    follow_up = subprocess.run(
        [*command, "imagine", "a quick one --steps 2", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert follow_up.returncode == 0, follow_up.stderr
    payload = json.loads(follow_up.stdout)
    assert payload["resumed_jobs"] == [{"job_id": job_id, "status": "done"}]
    resumed = _job(url, job_id)
    assert resumed["status"] == JobStatus.DONE
    assert resumed["seeds"] == [3, 4, 5, 6]
    assert resumed["attempts"] == 2


def test_bad_usage_from_a_real_process_is_one_line(cli_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "upscale", "abc"],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "index" in result.stderr.lower()


def _wait_for_running_job(url: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        found = asyncio.run(_running_job(url))
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the job never started running")


async def _running_job(url: str) -> str | None:
    database = await open_database(url)
    try:
        async with database.sessions() as session:
            query = select(Job.public_id).where(Job.status == JobStatus.RUNNING)
            return (await session.execute(query)).scalar_one_or_none()
    finally:
        await database.dispose()


def _job(url: str, job_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        database = await open_database(url)
        try:
            async with database.sessions() as session:
                job = (
                    await session.execute(select(Job).where(Job.public_id == job_id))
                ).scalar_one()
                images = (
                    await session.execute(select(Image.seed).where(Image.job_id == job.id))
                ).scalars()
                version = await session.get_one(ModelVersion, job.model_version_id)
                return {
                    "status": job.status,
                    "attempts": job.attempts,
                    "seeds": sorted(images),
                    "model": version.name,
                }
        finally:
            await database.dispose()

    return asyncio.run(read())


def heavy_imports_after(
    cli_env: dict[str, str], *commands: list[str]
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """Run each command in one fresh process; after each, "LIGHT" or the heavy modules
    (torch, diffusers) it had imported by then."""
    probe = (
        "import sys\n"
        "from bot.entry import main\n"
        f"for argv in {commands!r}:\n"
        "    sys.argv = ['pickloop', *argv]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    print('@after', sorted({'torch', 'diffusers'} & set(sys.modules)) or 'LIGHT')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Marked lines: a command's own output (help, say) may end in anything.
    marked = [line for line in result.stdout.splitlines() if line.startswith("@after ")]
    return [line.removeprefix("@after ") for line in marked], result


def test_bad_input_and_help_never_load_the_engine(cli_env: dict[str, str]) -> None:
    # Refusing a typo should be instant: torch and diffusers take seconds to import.
    after, result = heavy_imports_after(cli_env, ["imagine", "a cat --ar 9:1"], ["--help"])
    assert after == ["LIGHT", "LIGHT"], result.stderr
    assert "1:4 to 4:1" in result.stderr


def test_commands_that_need_no_model_never_import_torch(cli_env: dict[str, str]) -> None:
    # Each of these only reads or writes the database: torch and diffusers take seconds.
    after, result = heavy_imports_after(
        cli_env,
        ["db", "upgrade"],
        ["imagine", "a red circle --ar 16:9", "--no-wait"],
        ["jobs", "--all"],
        ["show", "nosuchjob"],
        ["react", "nosuchimage", "heart"],
        ["rate"],
        ["curate"],
        ["models", "list"],
        ["models", "report"],
    )
    assert after == ["LIGHT"] * 9, result.stderr
    assert "No job 'nosuchjob'" in result.stderr
    # Queued with the size the model's files give, which the engine would have given too.
    assert re.search(r"imagine \w+ queued .*\n\s+80x48 ", result.stdout), result.stdout


def test_work_on_a_grid_queued_without_waiting_never_imports_torch(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    grid = produced(capsys, "imagine", "a red circle --steps 1")["job_id"]
    after, result = heavy_imports_after(
        cli_env,
        ["vary", grid, "1", "--no-wait"],
        ["upscale", grid, "2", "--no-wait"],
        ["reroll", grid, "--no-wait"],
    )
    assert after == ["LIGHT"] * 3, result.stderr
    for kind in ("variation", "upscale", "reroll"):
        assert re.search(rf"^{kind} \w+ queued", result.stdout, re.MULTILINE), result.stdout


def test_simple_refusals_come_before_the_model_loads(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # A wrong index, reaction or model name is answered in about a second, not after the
    # seconds torch, diffusers and the model take.
    grid = produced(capsys, "imagine", "a red circle --steps 1")
    image = grid["images"][0]["id"]
    after, result = heavy_imports_after(
        cli_env,
        ["upscale", grid["job_id"], "5"],
        ["vary", grid["job_id"], "0"],
        ["react", image, "party-parrot"],
        ["imagine", "a cat --model nobody"],
    )
    assert after == ["LIGHT"] * 4, result.stderr
    assert result.stderr.count("there is no image") == 2
    assert "not a reaction" in result.stderr and "Unknown model 'nobody'" in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--user", ""], "--user needs a name"),
        (["--user", "bob\x1b[31m"], "--user may not hold control"),
        (["--user", "bob\u200b"], "--user may not hold control"),
    ],
)
def test_a_bad_user_name_is_refused_and_writes_nothing(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, out, err = pickloop(capsys, "imagine", "a red circle", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and said in err
    assert not Path(cli_env["PICKLOOP_DATA_DIR"]).exists()


def test_a_prompt_of_invisible_characters_is_refused(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = pickloop(capsys, "imagine", "\u200b\u200d\u2060 --seed 3")
    assert code == 2 and "The prompt is empty" in err


def test_peoples_text_reaches_the_terminal_plain(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Rich markup and an escape sequence in a prompt are shown as text, not obeyed.
    made = produced(capsys, "imagine", "a [/bold] red \x1b[31mcircle --steps 1")
    code, out, err = pickloop(capsys, "show", made["job_id"])
    assert code == 0, err
    assert "[/bold]" in out and "\x1b" not in out and "\\x1b[31m" in out
    code, out, _ = pickloop(capsys, "jobs")
    assert code == 0 and "[/bold]" in out and "\x1b" not in out


def test_no_wait_queues_the_job_for_a_worker_and_show_says_where_it_stands(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = produced(capsys, "imagine", "a red circle --seed 1", "--no-wait")
    second = produced(capsys, "imagine", "a blue square --seed 2", "--no-wait", "--user", "eve")
    assert (first["status"], first["images"], first["seeds"]) == ("queued", [], [1, 2, 3, 4])
    assert produced(capsys, "show", second["job_id"])["position"] == 2
    code, out, _ = pickloop(capsys, "show", first["job_id"])
    assert code == 0 and "waiting: position 1 in the queue" in out
    assert row_counts(cli_env["PICKLOOP_DATABASE_URL"]) == (2, 2, 0, 0)


@pytest.mark.slow
def test_show_tells_the_steps_of_a_job_a_worker_runs(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    queued = produced(capsys, "imagine", "a red circle --steps 60", "--no-wait")
    assert queued["steps_done"] is None
    with worker_process(cli_env, tmp_path / "worker.err"):
        running = shown_until(capsys, queued["job_id"], lambda job: bool(job["steps_done"]))
        code, shown, _ = pickloop(capsys, "show", queued["job_id"])
    assert running["status"] == "running" and running["steps_total"] == 60
    assert code == 0 and re.search(r"running: step \d+ of 60", shown), shown
