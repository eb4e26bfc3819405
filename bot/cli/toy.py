"""``pickloop toy``: the toy world the embedded model learns from, and how well a model draws it.

``toy eval`` judges a model's pictures for held-out captions (or, with ``--renders``, the
renderer's own pictures, to show the judge is sound); ``toy train`` trains a toy model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import fail, read_settings

if TYPE_CHECKING:
    from bot.config import Settings
    from engine.toy.evaluate import Captioned
    from engine.toy.judge import Accuracy

toy_app = typer.Typer(
    help="The toy world of coloured shapes: train and evaluate the embedded model.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


@toy_app.command("eval")
def evaluate(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Hub id, local folder, 'embedded' or 'embedded-random'; default PICKLOOP_MODEL.",
        ),
    ] = None,
    renders: Annotated[
        bool, typer.Option("--renders", help="Judge the renderer's own pictures instead.")
    ] = False,
    card: Annotated[
        bool,
        typer.Option(
            "--card",
            help="Also judge the floor (embedded-random) and the renders, and write all three "
            "into the model folder's card (README.md).",
        ),
    ] = False,
    captions: Annotated[int, typer.Option("--captions", min=1, max=10_000)] = 200,
    images: Annotated[int, typer.Option("--images", min=1, max=16, help="Per caption.")] = 4,
    steps: Annotated[int, typer.Option("--steps", min=1, max=200)] = 20,
    guidance: Annotated[float, typer.Option("--cfg", min=0.0, max=30.0)] = 7.5,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    as_json: JsonOption = False,
) -> None:
    """Judge pictures for held-out captions: colour, background, shape, size, position."""
    # Imported only when evaluating: torch and diffusers take seconds to load.
    from engine.embedded import RANDOM_MODEL, model_source
    from engine.toy.evaluate import judge_renders
    from engine.toy.world import evaluation_scenes

    settings = read_settings()
    if renders and card:
        fail("--card writes a model's card: it needs a model, not --renders", 2)
    scenes = evaluation_scenes(captions, seed=seed)
    if renders:
        _report("the renderer's own pictures", judge_renders(scenes), len(scenes), as_json)
        return
    spec = model or settings.model
    source = model_source(spec, settings.model_cache_dir)
    if card and not Path(source).is_dir():
        fail(f"--card needs a model folder to write into; {spec!r} is not one", 2)

    def judged(spec: str) -> Accuracy:
        try:
            return _judge_model(spec, settings, scenes, images=images, steps=steps,
                                guidance=guidance, seed=seed)  # fmt: skip
        except ValueError as error:
            fail(str(error), 2)

    accuracy = judged(spec)
    if card:
        from engine.toy.card import write_card

        evaluation = {
            "model": accuracy,
            "floor": judged(RANDOM_MODEL),
            "renders": judge_renders(scenes),
            "captions": len(scenes),
            "images": images,
            "steps": steps,
            "guidance": guidance,
            "seed": seed,
            "command": f"pickloop toy eval --model FOLDER --captions {len(scenes)} "
            f"--images {images} --steps {steps} --cfg {guidance:g} --seed {seed}",
        }
        write_card(Path(source), evaluation=evaluation)
    _report(f"model {spec}", accuracy, len(scenes), as_json)


def _judge_model(
    spec: str,
    settings: Settings,
    scenes: Captioned,
    *,
    images: int,
    steps: int,
    guidance: float,
    seed: int,
) -> Accuracy:
    """Load a model as the engine would and judge its pictures; ValueError if it won't load."""
    from bot.core.models.local import load_configured
    from engine.toy.evaluate import judge_pipeline

    loaded = load_configured(spec, settings)
    return judge_pipeline(
        loaded.text_to_image,
        scenes,
        images_per_caption=images,
        steps=steps,
        guidance=guidance,
        seed=seed,
    )


def _report(what: str, accuracy: Accuracy, captions: int, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"judged": what, **accuracy}))
        return
    print(f"{what}: {accuracy['n_images']} pictures of {captions} held-out captions")
    for key, value in accuracy.items():
        if key.endswith("_accuracy"):
            print(f"  {key.removesuffix('_accuracy'):>10}: {value:.1%}")


@toy_app.command("train")
def train(
    out: Annotated[Path, typer.Option("--out", help="The pipeline folder to write.")],
    work: Annotated[
        Path, typer.Option("--work", help="Checkpoints; run again with the same one to resume.")
    ] = Path("pickloop-data/toy-training"),
    pictures: Annotated[int, typer.Option("--pictures", min=16)] = 24_000,
    vae_steps: Annotated[
        int, typer.Option("--vae-steps", min=0, help="0 keeps the --start-from model's VAE.")
    ] = 2000,
    diffusion_steps: Annotated[int, typer.Option("--diffusion-steps", min=1)] = 4000,
    learning_rate: Annotated[
        float, typer.Option("--learning-rate", min=1e-7, help="Peak rate of the UNet's stage.")
    ] = 5e-4,
    partial_captions: Annotated[
        float,
        typer.Option(
            "--partial-captions",
            min=0.0,
            max=1.0,
            help="Share of captions that leave some attributes unsaid, so that a grid of such "
            "a prompt shows different pictures.",
        ),
    ] = 0.4,
    start_from: Annotated[
        Path | None,
        typer.Option("--start-from", help="A toy model folder to go on training from."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads; default: all cores.")
    ] = None,
    export_now: Annotated[
        bool,
        typer.Option(
            "--export-now",
            help="Save the model as the work folder's checkpoint has it, without training on "
            "(its card says how many steps it had).",
        ),
    ] = False,
) -> None:
    """Train the toy model on rendered scenes and save it as a diffusers pipeline folder."""
    import torch

    from engine.toy.captions import vocabulary
    from engine.toy.card import read_card_facts
    from engine.toy.render import render
    from engine.toy.train import TrainSettings, train_toy_model
    from engine.toy.world import training_scenes

    if vae_steps == 0 and start_from is None:
        fail("--vae-steps 0 keeps a trained VAE: name its model with --start-from", 2)
    if threads is not None:
        torch.set_num_threads(threads)
    scenes = list(training_scenes(seed, pictures, partial=partial_captions))
    data = [(render(scene), text) for scene, text in scenes]
    settings = TrainSettings(
        seed=seed,
        vae_steps=vae_steps,
        diffusion_steps=diffusion_steps,
        diffusion_learning_rate=learning_rate,
        partial_captions=partial_captions,
    )
    command = (
        f"pickloop toy train --pictures {pictures} --vae-steps {vae_steps} "
        f"--diffusion-steps {diffusion_steps} --learning-rate {learning_rate:g} "
        f"--partial-captions {partial_captions:g} --seed {seed}"
    )
    about: dict[str, object] = {
        "two_thing_share": sum(len(scene.things) == 2 for scene, _ in scenes) / len(scenes),
        "command": command + (" --start-from FOLDER" if start_from else ""),
        "machine": _machine(torch.get_num_threads()),
    }
    if start_from is not None:
        # The card tells how the model it went on from was made, too.
        about["started_from"] = read_card_facts(start_from).get("recipe", {})
    try:
        folder = train_toy_model(
            data,
            vocabulary(),
            work,
            out,
            settings=settings,
            about=about,
            train=not export_now,
            start_from=start_from,
        )
    except (RuntimeError, ValueError) as error:
        fail(str(error), 2)
    print(f"{'exported' if export_now else 'trained'}: {folder}")


def _machine(threads: int) -> str:
    """Where training ran, in words, for the model card."""
    import torch

    if torch.cuda.is_available():
        return f"one {torch.cuda.get_device_name()}"
    return f"a CPU ({os.cpu_count()} cores, {threads} torch threads)"
