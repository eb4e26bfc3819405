"""``pickloop models``: a tuned adapter registered, served, and drawing the next grids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bot.cli.test_cli import cli_env, pickloop, produced
from tests.engine.test_adapters import make_adapter

__all__ = ["cli_env"]


def grid_pixels(path: str) -> bytes:
    from PIL import Image

    with Image.open(path) as image:
        return image.tobytes()


def pixel_difference(first: str, second: str) -> float:
    """The mean absolute difference of two pictures' pixel values (0 to 255)."""
    import numpy as np
    from PIL import Image

    with Image.open(first) as one, Image.open(second) as other:
        return float(np.abs(np.asarray(one, float) - np.asarray(other, float)).mean())


def test_a_served_adapter_draws_the_next_grids_and_the_base_comes_back(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    adapter = make_adapter(Path(cli_env["PICKLOOP_MODEL"]), tmp_path / "adapter", seed=4)
    base_grid = produced(capsys, "imagine", "a red circle --seed 3")

    added = produced(capsys, "models", "add", "tuned", "--adapter", str(adapter))
    assert added["adapter"] == str(adapter.resolve()) and not added["serving"]
    served = produced(capsys, "models", "serve", "tuned")
    tuned_grid = produced(capsys, "imagine", "a red circle --seed 3")
    base_name = Path(cli_env["PICKLOOP_MODEL"]).name
    produced(capsys, "models", "serve", base_name)
    base_again = produced(capsys, "imagine", "a red circle --seed 3")

    assert [version["name"] for version in served["serving"]] == ["tuned"]
    assert (tuned_grid["model"], base_again["model"]) == ("tuned", base_name)
    assert grid_pixels(tuned_grid["grid_path"]) != grid_pixels(base_grid["grid_path"])
    assert grid_pixels(base_again["grid_path"]) == grid_pixels(base_grid["grid_path"])
    listed = produced(capsys, "models", "list")["versions"]
    assert {(v["name"], v["serving"], v["images"]) for v in listed} == {
        (base_name, True, 8),
        ("tuned", False, 4),
    }


def test_two_versions_compared_blind_draw_two_pictures_each_and_only_the_operator_sees_which(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    adapter = make_adapter(Path(cli_env["PICKLOOP_MODEL"]), tmp_path / "adapter", seed=4)
    base_name = Path(cli_env["PICKLOOP_MODEL"]).name
    base_grid = produced(capsys, "imagine", "a red circle --seed 3")
    produced(capsys, "models", "add", "tuned", "--adapter", str(adapter))
    served = produced(capsys, "models", "serve", "tuned", "--against", base_name)

    compared = produced(capsys, "imagine", "a red circle --seed 3")
    revealed = produced(capsys, "show", compared["job_id"])
    upscale = produced(capsys, "upscale", compared["job_id"], "1")

    assert {version["name"] for version in served["serving"]} == {"tuned", base_name}
    # People are not told which version drew what, not even through the upscale of a picture.
    assert compared["model"] == upscale["model"] == "hidden (blind comparison)"
    assert all(image["model"] is None for image in compared["images"])
    assert "versions" not in compared["parameters"]
    drawn_by = [image["model"] for image in revealed["images"]]
    assert sorted(drawn_by) == sorted(["tuned", "tuned", base_name, base_name])
    # Each picture is the one its version draws alone from that seed (up to the rounding of a
    # smaller batch); the adapter's pictures are another picture.
    for mine, base in zip(revealed["images"], base_grid["images"], strict=True):
        difference = pixel_difference(mine["path"], base["path"])
        assert (difference < 2) == (mine["model"] == base_name), difference
    upscaled_by = produced(capsys, "show", upscale["job_id"])["images"][0]["model"]
    assert upscaled_by == drawn_by[0]


def test_an_adapter_changed_after_registration_fails_its_jobs_with_a_reason(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    adapter = make_adapter(Path(cli_env["PICKLOOP_MODEL"]), tmp_path / "adapter", seed=4)
    produced(capsys, "models", "add", "tuned", "--adapter", str(adapter))
    produced(capsys, "models", "serve", "tuned")
    make_adapter(Path(cli_env["PICKLOOP_MODEL"]), adapter, seed=5)  # overwritten in place

    code, out, _ = pickloop(capsys, "imagine", "a red circle", "--json")

    assert code == 1
    assert "changed since it was registered" in json.loads(out)["error"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("add", "tuned", "--adapter", "."), "not a LoRA adapter"),
        (("add", "two words"), "no spaces"),
        (("serve", "nobody"), "Unknown model"),
        (("serve", "embedded", "--against", "embedded"), "compared with itself"),
    ],
)
def test_bad_versions_are_refused_in_one_line(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], args: tuple[str, ...], reason: str
) -> None:
    code, out, err = pickloop(capsys, "models", *args)

    assert code == 2 and out == "" and err.count("\n") == 1 and reason in err


def test_the_report_counts_a_u_click_in_a_blind_grid_as_a_vote_for_its_version(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    adapter = make_adapter(Path(cli_env["PICKLOOP_MODEL"]), tmp_path / "adapter", seed=4)
    base_name = Path(cli_env["PICKLOOP_MODEL"]).name
    produced(capsys, "models", "add", "tuned", "--adapter", str(adapter))
    produced(capsys, "models", "serve", "tuned", "--against", base_name)
    empty = produced(capsys, "models", "report")

    compared = produced(capsys, "imagine", "a red circle --seed 3")
    drawn_by = [image["model"] for image in produced(capsys, "show", compared["job_id"])["images"]]
    tuned_position = drawn_by.index("tuned") + 1
    produced(capsys, "upscale", compared["job_id"], str(tuned_position))
    report = produced(capsys, "models", "report")

    assert empty["pairs"] == []
    [pair] = report["pairs"]
    assert (pair["first"], pair["second"], pair["wins"], pair["losses"]) == (
        "tuned",
        base_name,
        1,
        0,
    )
    low, high = pair["win_rate_ci"]
    assert low < pair["win_rate"] == 1.0 and high == pytest.approx(1.0)
    rates = {entry["version"]: entry for entry in report["versions"]}
    assert rates["tuned"]["upscaled"] == pytest.approx(1 / 2)
    assert rates[base_name]["upscaled"] == 0
