"""``pickloop export`` as an operator runs it: clicks from the terminal, a dataset folder out,
loaded back with ``datasets.load_dataset``."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import pytest

from tests.bot.cli.test_cli import cli_env, pickloop, produced

__all__ = ["cli_env"]  # the fixture, shared with the other CLI tests

SECRET = "an operator's long random secret"


@pytest.fixture
def clicked_grid(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Carol's grid with Bob's U2 on it (three pairs to export), and the export secret set."""
    grid = produced(capsys, "imagine", "a red circle --seed 1 --steps 1")
    produced(capsys, "upscale", grid["job_id"], "2", "--user", "bob")
    monkeypatch.setenv("PICKLOOP_EXPORT_SECRET", SECRET)


def test_export_from_the_terminal(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    grid = produced(capsys, "imagine", "a red circle --seed 1")
    produced(capsys, "upscale", grid["job_id"], "2", "--user", "bob")
    first, last = grid["images"][0]["id"], grid["images"][3]["id"]
    produced(capsys, "rate", first, last, "tie", "--user", "dave")
    out = tmp_path / "pairs"

    code, stdout, stderr = pickloop(capsys, "export", "--format", "pairs", "--out", str(out))
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "PICKLOOP_EXPORT_SECRET" in stderr
    assert not out.exists()

    monkeypatch.setenv("PICKLOOP_EXPORT_SECRET", SECRET)
    monkeypatch.setenv("PICKLOOP_EXPORT_LICENSE", "cc-by-4.0")
    code, _, stderr = pickloop(capsys, "export", "--format", "votes", "--out", str(out))
    assert code == 2 and stderr.count("\n") == 1 and "pairs, kto, rankings" in stderr

    done = produced(capsys, "export", "--format", "pairs", "--out", str(out))
    assert done["splits"] == {"train": 3, "validation_unique": 0, "test_unique": 0, "ties": 1}
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))
    capsys.readouterr()  # datasets' own progress lines
    # Empty splits have no files: datasets cannot load one.
    assert {split: len(rows) for split, rows in loaded.items()} == {"train": 3, "ties": 1}
    winner = grid["images"][1]["id"]
    for row in loaded["train"]:
        assert row["best_image_uid"] == winner
        assert row["label_0"] == (1.0 if row["image_0_uid"] == winner else 0.0)
        assert re.fullmatch(r"[0-9a-f]{16}", row["user_id"])
    [tie] = loaded["ties"]
    assert (tie["image_0_uid"], tie["image_1_uid"], tie["label_0"]) == (first, last, 0.5)
    assert 'license: "cc-by-4.0"' in (out / "README.md").read_text()

    code, _, stderr = pickloop(capsys, "export", "--format", "pairs", "--out", str(out))
    assert code == 2 and stderr.count("\n") == 1 and "not an empty folder" in stderr

    # bob's U-click judges all four pictures; a /rate answer gives a pair, not labels.
    for name in ("kto", "rankings"):
        done = produced(capsys, "export", "--format", name, "--out", str(tmp_path / name))
        assert done["rows"] == {"kto": 4, "rankings": 1}[name]
        loaded = datasets.load_dataset(str(tmp_path / name), cache_dir=str(tmp_path / "hf"))
        assert sum(len(rows) for rows in loaded.values()) == done["rows"]

    everything = b"".join(
        path.read_bytes()
        for folder in ("pairs", "kto", "rankings")
        for path in sorted((tmp_path / folder).rglob("*"))
        if path.is_file()
    )
    for name in (b"carol", b"bob", b"dave"):
        assert name not in everything


def test_a_new_export_loads_its_own_rows_where_an_earlier_one_had_the_same_folder_name(
    clicked_grid: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``datasets.load_dataset(DIR)`` as a researcher calls it, with one cache for every load
    (as the default cache is): a second export into another folder named ``kto`` holds more
    rows, and loading it must give them, not the first export's."""
    cache = str(tmp_path / "the-researchers-cache")
    first = produced(capsys, "export", "--format", "kto", "--out", str(tmp_path / "a" / "kto"))
    loaded = datasets.load_dataset(str(tmp_path / "a" / "kto"), cache_dir=cache)
    assert sum(len(rows) for rows in loaded.values()) == first["rows"] == 4

    grid = produced(capsys, "imagine", "a blue square --seed 2 --steps 1")
    produced(capsys, "upscale", grid["job_id"], "1", "--user", "bob")
    second = produced(capsys, "export", "--format", "kto", "--out", str(tmp_path / "b" / "kto"))
    capsys.readouterr()
    loaded = datasets.load_dataset(str(tmp_path / "b" / "kto"), cache_dir=cache)
    assert sum(len(rows) for rows in loaded.values()) == second["rows"] == 8
    assert second["fingerprint"] != first["fingerprint"]
    assert (
        f"Fingerprint: `{second['fingerprint']}`"
        in (tmp_path / "b" / "kto" / "README.md").read_text()
    )


def test_export_is_curated_with_the_same_options_as_curate(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PICKLOOP_EXPORT_SECRET", SECRET)
    grid = produced(capsys, "imagine", "a red circle --seed 1")
    produced(capsys, "upscale", grid["job_id"], "2", "--user", "bob")
    produced(capsys, "upscale", grid["job_id"], "3", "--user", "dave")
    produced(capsys, "react", grid["images"][0]["id"], "👎", "--user", "dave")

    everyone = produced(capsys, "export", "--format", "pairs", "--out", str(tmp_path / "all"))
    # bob gave one signal, dave two: --min-signals 2 leaves bob's three pairs out.
    curated = produced(
        capsys, "export", "--format", "pairs", "--out", str(tmp_path / "few"), "--min-signals", "2"
    )
    report = produced(capsys, "curate", "--min-signals", "2")

    assert everyone["rows"] - curated["rows"] == 3
    assert curated["rows"] == report["kept"]["pairs"] + report["kept"]["ties"]
    # The card says how the data was curated.
    assert "| `min_signals_per_person` | `2` |" in (tmp_path / "few" / "README.md").read_text()
    code, _, stderr = pickloop(
        capsys, "export", "--format", "pairs", "--out", str(tmp_path / "x"), "--model", "nope"
    )
    assert code == 2 and stderr.count("\n") == 1 and "no model version nope" in stderr


@pytest.mark.parametrize("command", ["export", "curate"])
def test_reading_a_database_that_is_not_there_refuses_and_makes_nothing(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
) -> None:
    monkeypatch.delenv("PICKLOOP_DATABASE_URL")  # the default: a file in the data folder
    monkeypatch.setenv("PICKLOOP_EXPORT_SECRET", SECRET)
    out = tmp_path / "pairs"
    args = ["--format", "pairs", "--out", str(out)] if command == "export" else []
    code, stdout, stderr = pickloop(capsys, command, *args)
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "There is no data yet" in stderr
    assert not Path(cli_env["PICKLOOP_DATA_DIR"]).exists() and not out.exists()


@pytest.mark.usefixtures("clicked_grid")
def test_an_export_that_cannot_be_written_there_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    code, stdout, stderr = pickloop(
        capsys, "export", "--format", "pairs", "--out", str(a_file / "pairs")
    )
    assert code == 1 and stdout == ""
    assert stderr.count("\n") == 1 and "cannot write the export" in stderr
    assert a_file.read_text() == "not a folder"


@pytest.mark.usefixtures("clicked_grid")
def test_show_tells_what_an_export_job_made(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import asyncio

    from bot.config import Settings
    from bot.core.actor import Actor
    from bot.core.app import open_app

    out = tmp_path / "pairs"

    async def export_as_a_job() -> str:
        async with open_app(Settings()) as app:
            view = await app.data_jobs.export(Actor.local("operator"), "pairs", out)
            await app.runner.run(view.job_id)
            return view.job_id

    job_id = asyncio.run(export_as_a_job())
    code, stdout, stderr = pickloop(capsys, "show", job_id)

    assert code == 0, stderr
    assert f"export {job_id} done" in stdout
    assert "rows: 3" in stdout and str(out) in stdout
    assert datasets.load_dataset(str(out))["train"].num_rows >= 1
