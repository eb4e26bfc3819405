"""``pickloop toy``: the judge validated on renders, a model judged, a toy model trained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from engine.loader import load_model
from tests.bot.cli.test_cli import pickloop


@pytest.fixture
def toy_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data folder of its own; the toy commands use no database."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("PICKLOOP_DATA_DIR", str(tmp_path / "data"))


def judged(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, float]:
    code, out, err = pickloop(capsys, "toy", "eval", *args, "--json")
    assert code == 0, err
    [line] = out.splitlines()
    result: dict[str, float] = json.loads(line)
    return result


def test_the_judge_is_right_on_the_renderers_own_pictures(
    toy_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    result = judged(capsys, "--renders", "--captions", "60")

    assert result["n_images"] == 60
    for key in ("color", "background", "shape", "size", "position"):
        assert result[f"{key}_accuracy"] >= 0.98, key


def test_a_random_model_fails_the_judge(
    toy_env: None, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path
) -> None:
    result = judged(
        capsys, "--model", str(tiny_model_dir), "--captions", "6", "--images", "2", "--steps", "2"
    )

    assert result["n_images"] == 12
    assert result["color_accuracy"] < 0.5
    assert result["position_accuracy"] < 0.5


def test_an_unknown_model_is_one_line(
    toy_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = pickloop(capsys, "toy", "eval", "--model", str(tmp_path / "nothing"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


def test_a_toy_model_trained_from_the_terminal_loads_like_any_model(
    toy_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "toy-model"
    code, stdout, err = pickloop(
        capsys,
        "toy",
        "train",
        "--out",
        str(out),
        "--work",
        str(tmp_path / "work"),
        "--pictures",
        "32",
        "--vae-steps",
        "2",
        "--diffusion-steps",
        "2",
    )

    assert code == 0, err
    assert str(out) in stdout
    loaded = load_model(str(out), "cpu", torch.float32)
    assert loaded.info.native_width == 64
    card = (out / "README.md").read_text()
    assert "## Training" in card and "--vae-steps 2 --diffusion-steps 2" in card


def test_eval_with_card_writes_the_model_the_floor_and_the_judge_into_the_card(
    toy_env: None, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    quick = ("--captions", "3", "--images", "1", "--steps", "2")

    result = judged(capsys, "--model", str(folder), "--card", *quick)

    card = (folder / "README.md").read_text()
    assert result["n_images"] == 3
    assert f"| this model | {result['color_accuracy']:.1%} |" in card
    assert "| random tiny pipeline (floor) |" in card
    assert "| the renderer's own pictures (judge check) | 100.0% |" in card
    assert "3 captions of held-out combinations" in card


@pytest.mark.parametrize(
    "args", [("--renders", "--card"), ("--model", "someone/hub-model", "--card")]
)
def test_a_card_is_only_written_into_a_model_folder(
    toy_env: None, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    code, out, err = pickloop(capsys, "toy", "eval", *args)

    assert code == 2 and out == "" and "--card" in err


def test_a_run_cut_off_can_be_exported_as_its_checkpoint_has_it(
    toy_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from engine.toy.captions import vocabulary
    from engine.toy.render import render
    from engine.toy.train import ToyData, ToyTrainer, TrainSettings
    from engine.toy.world import training_scenes

    work, out = tmp_path / "work", tmp_path / "early"
    command = ("toy", "train", "--out", str(out), "--work", str(work), "--pictures", "32",
               "--vae-steps", "2", "--diffusion-steps", "5", "--partial-captions", "0")  # fmt: skip
    code, _, err = pickloop(capsys, *command, "--export-now")
    assert code == 2 and "before the VAE stage has ended" in err and not out.exists()

    # The same run as the command's, cut off after 2 of its 5 diffusion steps.
    data = ToyData.from_pairs([(render(s), c) for s, c in training_scenes(0, 32)], 64)
    settings = TrainSettings(vae_steps=2, diffusion_steps=5)
    ToyTrainer(data, vocabulary(), work, settings).run(stop_after=4, progress=False)
    code, stdout, err = pickloop(capsys, *command, "--export-now")

    assert code == 0, err
    assert f"exported: {out}" in stdout
    assert "2 of 5 planned steps" in (out / "README.md").read_text()
    assert load_model(str(out), "cpu", torch.float32).info.native_width == 64


def test_training_goes_on_from_a_toy_model_with_its_vae_and_says_so_on_its_card(
    toy_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    common = ("--pictures", "32", "--diffusion-steps", "2")
    code, _, err = pickloop(
        capsys, "toy", "train", "--out", str(first), "--work", str(tmp_path / "w1"),
        "--vae-steps", "2", *common,
    )  # fmt: skip
    assert code == 0, err

    code, _, err = pickloop(
        capsys, "toy", "train", "--out", str(second), "--work", str(tmp_path / "w2"),
        "--vae-steps", "0", "--start-from", str(first), "--partial-captions", "0.5", *common,
    )  # fmt: skip

    assert code == 0, err
    vae = "vae/diffusion_pytorch_model.safetensors"
    assert (first / vae).read_bytes() == (second / vae).read_bytes()
    card = (second / "README.md").read_text()
    assert "going on from a model (FOLDER) made with `pickloop toy train" in card
    assert "50% of the captions leave some attributes unsaid" in card
    assert "(the earlier model's, kept as it was)" in card


def test_a_vae_is_only_kept_from_a_model_to_start_from(
    toy_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = pickloop(
        capsys, "toy", "train", "--out", str(tmp_path / "m"), "--vae-steps", "0"
    )

    assert code == 2 and out == "" and "--start-from" in err
    assert not (tmp_path / "m").exists()
