"""``pickloop loop-demo``: the whole loop, short, on a tiny model, through the real services."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bot.cli.test_cli import pickloop, produced

REQUIRED = (
    "taste_before",
    "taste_after",
    "win_rate",
    "win_rate_ci",
    "control_win_rate",
    "control_win_rate_ci",
    "minutes",
)


@pytest.fixture
def demo_env(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The operator's own data folder and database, which the demo must leave alone."""
    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PICKLOOP_DATA_DIR", str(data))
    monkeypatch.setenv("PICKLOOP_DATABASE_URL", f"sqlite+aiosqlite:///{data / 'bot.db'}")
    monkeypatch.setenv("PICKLOOP_MODEL", str(tiny_model_dir))
    return data


@pytest.mark.slow
def test_a_short_demo_runs_the_whole_loop_and_counts_every_blind_click(
    demo_env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    people, grids, comparison_grids = 2, 3, 2

    # The tiny model draws noise: some of it reddish, none of it a thing on a background.
    found = produced(
        capsys, "loop-demo", "--out", str(out), "--people", str(people), "--grids", str(grids),
        "--comparison-grids", str(comparison_grids), "--steps", "2", "--train-steps", "2",
        "--taste", "redder", "--batch", "4",
    )  # fmt: skip

    assert set(REQUIRED) <= set(found)
    for rate, interval in ((found["win_rate"], found["win_rate_ci"]),
                           (found["control_win_rate"], found["control_win_rate_ci"])):  # fmt: skip
        low, high = interval
        assert 0 <= low <= rate <= high <= 1
    for name, arm in found["arms"].items():
        # Every prompt ends in one upscale, some after a re-roll; each U-click beats the 3 other
        # pictures, unless a 👎 on the upscaled picture outranks it.
        assert arm["upscales"] == people * grids, name
        assert arm["grids"] == arm["upscales"] + arm["rerolls"]
        assert arm["pairs"] % 3 == 0 and arm["pairs"] <= 3 * arm["upscales"]
        assert arm["labels"] >= 4 * arm["upscales"]
        # The control compares the headline method only.
        assert set(arm["comparisons"]) == ({"kto", "dpo"} if name == "main" else {"kto"})
        for method, comparison in arm["comparisons"].items():
            # Each panel prompt ends in one U-click on a blind grid: one vote.
            assert comparison["votes"] == people * comparison_grids
            assert comparison["training"]["steps"] == 2
            adapter = Path(comparison["training"]["adapter"])
            assert adapter == out / name / "adapters" / method
            assert (adapter / "pytorch_lora_weights.safetensors").is_file()
            assert (adapter / "README.md").is_file()
            # A step sees 4 pictures either way: 4 labelled ones, or 2 pairs.
            card = json.loads((adapter / "training.json").read_text())
            assert card["options"]["batch_size"] == (2 if method == "dpo" else 4)
        assert (out / name / "exports" / "kto" / "README.md").is_file()
    assert found["arms"]["main"]["clicks"] == "taste"
    assert found["arms"]["control"]["clicks"] == "random"
    # The bot's own database and images were never touched.
    assert not (demo_env / "bot.db").exists()
    assert not (demo_env / "images").exists()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--taste", "bitter"), "--taste: the taste is one of larger, smaller, redder"),
        (("--method", "sgd"), "--method"),
        (("--people", "0"), "--people"),
        (("--average-last", "1"), "--average-last"),
        (("--extrapolate", "0"), "--extrapolate"),
        (("--extrapolate", "9"), "--extrapolate"),
    ],
)
def test_bad_options_are_refused_in_one_line_before_anything_is_written(
    demo_env: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], reason: str
) -> None:
    code, out, err = pickloop(capsys, "loop-demo", *args)

    assert code == 2 and out == "" and reason in err
    assert not demo_env.exists()


def test_a_folder_that_holds_something_is_refused(
    demo_env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")

    code, out, err = pickloop(capsys, "loop-demo", "--out", str(taken))

    assert code == 2 and out == "" and "not empty" in err
    assert sorted(p.name for p in taken.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_people_who_never_get_what_they_like_leave_nothing_to_train_on_and_are_told_so(
    demo_env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The tiny model's noise holds no thing to be large: every upscale ends in a 👎, so no
    picture is preferred to another and there are no pairs for DPO."""
    out = tmp_path / "demo"

    code, stdout, err = pickloop(
        capsys, "loop-demo", "--out", str(out), "--people", "1", "--grids", "2",
        "--steps", "2", "--train-steps", "2", "--method", "dpo", "--json",
    )  # fmt: skip

    assert code == 2 and stdout == ""
    assert "dpo has nothing to train on" in err and str(out / "main") in err
    # What the people did is kept to look at.
    assert (out / "main" / "pickloop.db").is_file()


@pytest.mark.slow
def test_a_short_personal_demo_runs_the_flywheel_by_itself_and_judges_every_profile(
    demo_env: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The embedded model, which draws things large and small, as the people's tastes need.
    monkeypatch.delenv("PICKLOOP_MODEL")
    out = tmp_path / "personal"
    grids, comparison_grids = 3, 1

    found = produced(
        capsys, "loop-demo", "--personal", "--out", str(out), "--people", "1",
        "--grids", str(grids), "--comparison-grids", str(comparison_grids), "--steps", "4",
        "--profile-train-steps", "1", "--min-signals", "3",
    )  # fmt: skip

    assert {"groups", "control_win_rate", "control_win_rate_ci", "promotions", "minutes"} <= set(
        found
    )
    assert [group["taste"] for group in found["groups"]] == ["larger", "smaller"]
    # Every person's round (two tasters and two random clickers) ran without an operator: a
    # candidate trained from their clicks, or (three grids say little) a failure that says why.
    personal = {r["profile"]: r for r in found["rounds"] if r["profile"] != "server"}
    assert sorted(personal) == ["larger-1", "random-1", "random-2", "smaller-1"]
    for found_round in personal.values():
        if found_round["status"] == "failed":
            assert found_round["reason"], found_round
        else:
            assert found_round["status"] in ("collecting", "promoted", "retired"), found_round
            assert found_round["candidate"] and found_round["export_fingerprint"], found_round
    for group in found["groups"]:
        for name in ("own_profile", "other_profile", "community"):
            assert {f"{name}_win_rate", f"{name}_win_rate_ci"} <= set(group)
        # A person with a profile judges it in every panel grid: one vote each.
        trained = personal[f"{group['taste']}-1"]["candidate"] is not None
        assert group["own_profile_votes"] == (comparison_grids if trained else 0)
        low, high = group["own_profile_win_rate_ci"]
        assert 0 <= low <= high <= 1
    # Everyone answered /rate pairs between rounds, as the bot offered them.
    assert found["ratings"] > 0
    assert found["promotions"] == sum(r["status"] == "promoted" for r in found["rounds"])
    assert found["training_seconds"]["mean"] > 0
    assert not (demo_env / "bot.db").exists()
