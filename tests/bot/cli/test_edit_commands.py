"""zoom, pan, square and vary-region from the terminal (each makes a grid from a picture and is
one click in the grid's story), and imagine with permutation prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.bot.cli.test_cli import cli_env, pickloop, produced

__all__ = ["cli_env"]


def size_of(path: str) -> tuple[int, int]:
    with Image.open(path) as picture:
        return picture.size


def test_the_tools_after_an_upscale_from_the_terminal(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    grid = produced(capsys, "imagine", "a red circle on a blue background --ar 3:2")
    upscaled = produced(capsys, "upscale", grid["job_id"], "1")
    width, height = size_of(grid["images"][0]["path"])

    zoomed = produced(capsys, "zoom", upscaled["job_id"], "1", "--factor", "1.5")
    panned = produced(capsys, "pan", upscaled["job_id"], "1", "right", "--user", "dave")
    squared = produced(capsys, "square", grid["job_id"], "1")
    region = produced(
        capsys,
        "vary-region",
        grid["job_id"],
        "2",
        "--region",
        "top-left",
        "--region",
        "centre",
        "--prompt",
        "a red circle and a star",
    )

    creative = produced(capsys, "upscale", upscaled["job_id"], "1", "--creative")
    assert creative["parameters"]["creative"] is True
    assert size_of(creative["images"][0]["path"]) == (4 * width, 4 * height)
    for made in (zoomed, panned, squared, region):
        assert made["status"] == "done" and len(made["images"]) == 4
        assert all(Path(image["path"]).is_file() for image in made["images"])
    assert size_of(zoomed["images"][0]["path"]) == (width, height)
    assert zoomed["parameters"]["zoom"] == 1.5
    panned_width, panned_height = size_of(panned["images"][0]["path"])
    assert panned_width > width and panned_height == height
    assert size_of(squared["images"][0]["path"])[0] == size_of(squared["images"][0]["path"])[1]
    assert region["parameters"]["regions"] == ["top-left", "centre"]
    assert region["prompt"] == "a red circle and a star"
    # Each is a click in the story of the picture it was made from.
    stories = {
        job: [
            (s["who"], s["kind"], s["started_job_id"])
            for s in produced(capsys, "show", job)["story"]
        ]
        for job in (grid["job_id"], upscaled["job_id"])
    }
    assert ("carol", "make_square", squared["job_id"]) in stories[grid["job_id"]]
    assert ("carol", "vary_region", region["job_id"]) in stories[grid["job_id"]]
    assert ("carol", "zoom_out", zoomed["job_id"]) in stories[upscaled["job_id"]]
    assert ("dave", "pan", panned["job_id"]) in stories[upscaled["job_id"]]


def test_a_permutation_prompt_makes_one_grid_each_and_asks_above_the_threshold(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = pickloop(capsys, "imagine", "a {red, blue} circle --repeat 2", "--json")
    many = ["imagine", "a {red, blue, green, white, black} circle", "--json"]
    asked, _, refusal = pickloop(capsys, *many)
    made, confirmed, _ = pickloop(capsys, *many, "--yes")

    assert code == 0
    jobs = [json.loads(line) for line in out.splitlines()]
    assert [job["prompt"] for job in jobs] == ["a red circle"] * 2 + ["a blue circle"] * 2
    assert all(job["status"] == "done" for job in jobs)
    assert asked == 2 and "makes 5 grids; add --yes" in refusal
    assert made == 0 and len(confirmed.splitlines()) == 5


def test_imagine_starts_from_the_pictures_given_and_refuses_what_it_cannot_read(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wide, square = tmp_path / "wide.png", tmp_path / "square.jpg"
    Image.new("RGB", (90, 30), "red").save(wide)
    Image.new("RGB", (50, 50), "blue").save(square)
    (tmp_path / "notes.txt").write_text("not a picture")

    one = produced(capsys, "imagine", "a red band --iw 1.5", "--image", str(wide))
    blended = produced(capsys, "imagine", "--image", str(wide), "--image", str(square))
    refusals = [
        pickloop(capsys, "imagine", "a band", "--image", str(tmp_path / "notes.txt")),
        pickloop(capsys, "imagine", "a band", "--image", str(tmp_path / "missing.png")),
        pickloop(capsys, "imagine", "a band --iw 1"),
        pickloop(capsys, "imagine", "a band", *["--image", str(wide)] * 6),
    ]

    assert one["status"] == "done" and one["parameters"]["images"] == 1
    assert one["parameters"]["image_weight"] == 1.5 and one["parameters"]["aspect"] == "3:1"
    assert blended["prompt"] == "" and blended["parameters"]["images"] == 2
    assert [code for code, _, _ in refusals] == [2, 2, 2, 2]
    said = [error for _, _, error in refusals]
    assert "notes.txt is not a picture" in said[0] and "Cannot read" in said[1]
    assert "attach an image" in said[2] and "At most 5 image prompts" in said[3]
    _, listed, _ = pickloop(capsys, "jobs", "--json")
    assert len(json.loads(listed)["jobs"]) == 2
