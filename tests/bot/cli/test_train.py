"""``pickloop train``: the community's clicks, exported, become a LoRA adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.loader import load_model
from tests.bot.cli.test_cli import cli_env, pickloop, produced, shown_until, worker_process
from tests.engine.support import adapter_changes_pictures as changes_pictures
from tests.fixtures.ray_cluster import LocalCluster

__all__ = ["cli_env"]

UNFINISHED = ("queued", "running")


def adapter_changes_pictures(model: str, adapter: Path) -> bool:
    return changes_pictures(load_model(model, "cpu", torch.float32).text_to_image, adapter)


@pytest.fixture
def exports(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Path:
    """Pairs and kto exports of two grids: bob U-clicks in one, re-rolls the other."""
    liked = produced(capsys, "imagine", "a red circle --seed 1")
    disliked = produced(capsys, "imagine", "a blue square --seed 9")
    produced(capsys, "upscale", liked["job_id"], "2", "--user", "bob")
    produced(capsys, "reroll", disliked["job_id"], "--user", "bob")
    monkeypatch.setenv("PICKLOOP_EXPORT_SECRET", "an operator's long random secret")
    for name in ("pairs", "kto"):
        produced(capsys, "export", "--format", name, "--out", str(tmp_path / name))
    return tmp_path


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_an_adapter_trained_from_an_export_loads_onto_its_base_model(
    exports: Path, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], method: str
) -> None:
    data = exports / ("pairs" if method == "dpo" else "kto")
    out = exports / f"{method}-adapter"
    # DPO also averages its last steps, draws only the noisier timesteps, adapts the
    # convolutions and is written extrapolated (an adapter that must load back all the same);
    # KTO does none of it.
    choices = (
        ["--average-last", "0.5", "--timestep-floor", "0.5", "--convolutions", "--extrapolate", "2"]
        if method == "dpo"
        else []
    )

    result = produced(
        capsys, "train", method, "--data", str(data), "--out", str(out),
        "--steps", "3", "--batch", "2", "--rank", "2", "--lr", "0.01", *choices,
    )  # fmt: skip

    # A job like any other, its outcome recorded on it.
    assert result["kind"] == "fine_tune" and result["status"] == "done"
    outcome = result["outcome"]
    assert outcome["steps"] == 3 and outcome["adapter"] == str(out)
    assert outcome["examples"] == (3 if method == "dpo" else 8)
    assert (out / "pytorch_lora_weights.safetensors").is_file()
    card = (out / "README.md").read_text()
    assert "made by pickloop" in card
    # How KTO weighed its few chosen pictures against the many passed over is on the card.
    assert ("batches drawn at random, weights 1 / 1" in card) == (method == "kto")
    assert ("averaged over the last 50% of the steps" in card) == (method == "dpo")
    assert ("timesteps from 50% of the schedule up" in card) == (method == "dpo")
    assert ("ResNet convolutions adapted too" in card) == (method == "dpo")
    assert ("2 times the trained change" in card) == (method == "dpo")
    assert adapter_changes_pictures(cli_env["PICKLOOP_MODEL"], out)


@pytest.mark.slow
def test_a_fine_tune_queued_without_waiting_is_run_by_a_worker(
    exports: Path, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = exports / "later"
    queued = produced(
        capsys, "train", "kto", "--data", str(exports / "kto"), "--out", str(out),
        "--steps", "2", "--batch", "2", "--no-wait",
    )  # fmt: skip
    assert (queued["kind"], queued["status"]) == ("fine_tune", "queued")
    code, shown, _ = pickloop(capsys, "show", queued["job_id"])
    assert code == 0 and "position 1 in the queue" in shown
    assert f"kto on {exports / 'kto'} into {out}" in shown
    assert not out.exists()

    said = exports / "worker.err"
    with worker_process(cli_env, said):
        job = shown_until(capsys, queued["job_id"], lambda job: job["status"] not in UNFINISHED)
    assert job["status"] == "done" and job["outcome"]["adapter"] == str(out)
    # The libraries' loading bars stay off the worker's log: pickloop reports progress itself.
    assert "Loading pipeline" not in said.read_text()
    assert (out / "pytorch_lora_weights.safetensors").is_file()


def test_training_on_the_wrong_layout_is_one_line_and_writes_nothing(
    exports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = exports / "never"
    code, stdout, stderr = pickloop(
        capsys, "train", "dpo", "--data", str(exports / "kto"), "--out", str(out)
    )

    assert code == 2 and stdout == "" and stderr.count("\n") == 1 and "jpg_0" in stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("exports/nonexistent", "is not a dataset folder"),
        ("some-owner/some-dataset", "hub:OWNER/NAME"),
        ("hub:", "names no dataset"),
    ],
)
def test_data_that_is_not_there_is_refused_at_once_without_the_network(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    data: str,
    said: str,
) -> None:
    # Should the refusal ever slip, the test fails on the hub's own error, not on a wait.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "adapter"
    code, stdout, stderr = pickloop(capsys, "train", "dpo", "--data", data, "--out", str(out))
    assert code == 2 and stdout == "" and stderr.count("\n") == 1
    assert said in stderr
    assert not out.exists() and not Path(cli_env["PICKLOOP_DATA_DIR"]).exists()


def test_a_file_given_as_data_is_refused(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "pairs.parquet"
    data.write_bytes(b"PAR1")
    code, _, stderr = pickloop(
        capsys, "train", "kto", "--data", str(data), "--out", str(tmp_path / "a")
    )
    assert code == 2 and "is a file, not a dataset folder" in stderr


def test_a_fine_tune_on_the_cluster_writes_its_adapter_back_here(
    exports: Path,
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    ray_cluster: LocalCluster,
) -> None:
    out = exports / "kto-on-cluster"
    result = produced(
        capsys, "train", "kto", "--data", str(exports / "kto"), "--out", str(out),
        "--steps", "2", "--batch", "2", "--rank", "2", "--lr", "0.01", "--on-cluster",
    )  # fmt: skip

    assert result["status"] == "done"
    assert result["outcome"]["steps"] == 2 and result["outcome"]["adapter"] == str(out)
    # The card names the data as it was asked for, not the task's scratch folder.
    assert str(exports / "kto") in (out / "README.md").read_text()
    assert adapter_changes_pictures(cli_env["PICKLOOP_MODEL"], out)
