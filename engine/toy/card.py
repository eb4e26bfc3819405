"""The model card of a trained toy model: README.md in its pipeline folder.

Training writes the recipe and `pickloop toy eval --card` adds the evaluation, each at a
different time, so the facts are kept in a JSON file beside the card (`pickloop-toy.json`) and
the card is written again from all of them whenever either changes.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.toy.scene import COLOURS, POSITIONS, SHAPES, SIZES

CARD = "README.md"
CARD_FACTS = "pickloop-toy.json"

# The columns of the evaluation table, in the order the issue names them.
_MEASURES = ("color", "background", "shape", "size", "position", "scene")


def read_card_facts(folder: Path) -> dict[str, Any]:
    """The facts the folder's card was written from (empty if it has none)."""
    path = folder / CARD_FACTS
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def write_card(folder: Path, **facts: Mapping[str, Any]) -> Path:
    """Keep `facts` (recipe=..., evaluation=...) beside the card and write the card again."""
    kept = read_card_facts(folder) | {name: dict(value) for name, value in facts.items()}
    # Rendered first: facts the card cannot be written from are refused before anything is kept.
    card = render_card(kept)
    (folder / CARD_FACTS).write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
    path = folder / CARD
    path.write_text(card)
    return path


def render_card(facts: Mapping[str, Any]) -> str:
    """The card's Markdown, with the front matter the Hugging Face hub reads."""
    parts = [_FRONT_MATTER, _ABOUT.format(**_world())]
    recipe = facts.get("recipe")
    parts.append(_recipe(recipe) if recipe else "## Training\n\nNot recorded.\n")
    evaluation = facts.get("evaluation")
    parts.append(_evaluation(evaluation) if evaluation else _NOT_EVALUATED)
    parts.append(_USE)
    return "\n".join(parts)


def _world() -> dict[str, str]:
    return {
        "colours": ", ".join(COLOURS),
        "shapes": ", ".join(SHAPES),
        "sizes": " and ".join(SIZES),
        "positions": ", ".join(POSITIONS),
    }


_FRONT_MATTER = """---
library_name: diffusers
pipeline_tag: text-to-image
license: apache-2.0
tags:
- pickloop
- stable-diffusion
- toy
---
"""

_ABOUT = """# pickloop's embedded toy model

A tiny latent text-to-image model, trained from scratch by `pickloop toy train` on pictures that
pickloop renders itself. It ships inside pickloop as the default model, so a new install draws
pictures that follow their prompt without a GPU, a token or a download. It is a standard
Stable Diffusion pipeline folder: `StableDiffusionPipeline.from_pretrained` loads it, and so do
diffusers' training scripts (`AutoTokenizer` reads `tokenizer/`, `DDPMScheduler` reads
`scheduler/`).

**What it draws.** One or two things on a plain background, 64x64 pixels. Colours: {colours}
(for the things and the background, never the same for a thing and its background). Shapes:
{shapes}. Sizes: {sizes}. Positions: {positions}. Captions name the attributes, for example
"a small red circle in the top left on a blue background" or "blue background, small red circle
in the top left"; words outside that vocabulary mean nothing to it. A caption may leave the
sizes, colours, positions or background unsaid ("a circle on a blue background"): the model
then chooses them, often differently from seed to seed (sizes more than colours). Some
colour, shape and background combinations were held out of training; the evaluation below uses
only those.
"""

_NOT_EVALUATED = """## Evaluation

Not evaluated yet: run `pickloop toy eval --model FOLDER --card`.
"""

_USE = """## Use

```python
from diffusers import StableDiffusionPipeline

pipe = StableDiffusionPipeline.from_pretrained("path/to/this/folder")
image = pipe("a large yellow star on a purple background", num_inference_steps=20).images[0]
```

In pickloop it is the model `embedded` (the default `PICKLOOP_MODEL`).
"""


def _mix(two_thing_share: float) -> str:
    two = round(100 * two_thing_share)
    return f"about {100 - two}% one thing, {two}% two things"


def _recipe(recipe: Mapping[str, Any]) -> str:
    settings = recipe["settings"]
    earlier: Mapping[str, Any] = recipe.get("started_from") or {}
    architecture = settings["architecture"]
    counts = recipe.get("parameters", {})
    snr = settings["snr_gamma"]
    partial = settings.get("partial_captions", 0.0)
    lines = [
        "## Training",
        "",
        f"Made with `{recipe.get('command', 'pickloop toy train')}` in "
        f"{_duration(recipe.get('seconds'))} on {recipe.get('machine', 'an unrecorded machine')}"
        + (
            f", going on from a model (FOLDER) made with `{earlier.get('command')}` in "
            f"{_duration(earlier.get('seconds'))}."
            if earlier
            else "."
        ),
        "",
        f"- **Data**: {recipe['pictures']:,} rendered pictures and their captions "
        f"(seed {settings['seed']}); {_mix(recipe.get('two_thing_share', 0.3))}"
        + (f"; {partial:.0%} of the captions leave some attributes unsaid." if partial else "."),
        _vae_line(recipe, earlier),
        f"- **Text encoder** ({_count(counts.get('text_encoder'))} parameters): a CLIPTextModel "
        f"of {architecture['text_layers']} layers of width {architecture['text_width']}, and a "
        "word-level CLIP tokenizer made locally (one token per caption word), trained "
        + ("" if earlier else "from scratch ")
        + "together with the UNet.",
        f"- **UNet** ({_count(counts.get('unet'))} parameters, channels "
        f"{_widths(architecture['unet_channels'])}, cross-attention to the caption at every "
        f"level): {_diffusion_steps(recipe)} at batch {settings['diffusion_batch']}"
        + (f" (after the earlier model's {_diffusion_steps(earlier)})" if earlier else "")
        + f", AdamW at {settings['diffusion_learning_rate']:g} (warm-up "
        f"{settings['warmup_steps']} steps, cosine decay), v-prediction on Stable Diffusion's "
        "noise schedule rescaled to zero terminal SNR, "
        + (f"min-SNR weighting (gamma {snr:g}), " if snr is not None else "")
        + f"{settings['caption_dropout']:.0%} of captions left empty for classifier-free "
        f"guidance, EMA of the weights (decay {settings['ema_decay']:g}), which is what is saved.",
        "",
        "Everything random comes from the seed; training resumes from its checkpoints with the "
        "same losses an uninterrupted run has.",
        "",
    ]
    return "\n".join(lines)


def _vae_line(recipe: Mapping[str, Any], earlier: Mapping[str, Any]) -> str:
    """The VAE's part of the recipe: this run's, or the earlier model's when it was kept."""
    kept = bool(earlier) and recipe["settings"]["vae_steps"] == 0
    settings = earlier["settings"] if kept else recipe["settings"]
    counts = recipe.get("parameters", {})
    return (
        f"- **VAE** ({_count(counts.get('vae'))} parameters, channels "
        f"{_widths(settings['architecture']['vae_channels'])}, 4x down-sampling to 4x16x16 "
        f"latents): {settings['vae_steps']:,} steps at batch {settings['vae_batch']}"
        + (" (the earlier model's, kept as it was)" if kept else "")
        + f", AdamW at {settings['vae_learning_rate']:g}, L1 reconstruction plus KL at "
        f"{settings['kl_weight']:g}. The latents are scaled to unit variance."
    )


def _evaluation(evaluation: Mapping[str, Any]) -> str:
    rows = [("this model", evaluation["model"])]
    if "floor" in evaluation:
        rows.append(("random tiny pipeline (floor)", evaluation["floor"]))
    if "renders" in evaluation:
        rows.append(("the renderer's own pictures (judge check)", evaluation["renders"]))
    header = "| pictures of | " + " | ".join(_MEASURES) + " | images |"
    rule = "|---|" + "---:|" * (len(_MEASURES) + 1)
    table = [header, rule]
    for name, accuracy in rows:
        cells = [f"{accuracy[f'{measure}_accuracy']:.1%}" for measure in _MEASURES]
        table.append(f"| {name} | " + " | ".join(cells) + f" | {accuracy['n_images']:,} |")
    return "\n".join(
        [
            "## Evaluation",
            "",
            f"{evaluation['captions']} captions of held-out combinations (never seen in "
            f"training), {evaluation['images']} pictures each, {evaluation['steps']} steps, "
            f"guidance {evaluation['guidance']:g}, seeds from {evaluation['seed']}, judged by "
            "`pickloop toy eval` from analytic image features (no second model): the "
            "background from the border, things as connected regions of one colour, their "
            "cell from the bounding box, size from the extent, shape from the region's outline. "
            "Colour, shape, size and position are fractions of things; background and scene "
            "(everything right) are fractions of pictures.",
            "",
            *table,
            "",
            f"Reproduce: `{evaluation.get('command', 'pickloop toy eval --model FOLDER')}`.",
            "",
        ]
    )


def _diffusion_steps(recipe: Mapping[str, Any]) -> str:
    planned = int(recipe["settings"]["diffusion_steps"])
    done = int(recipe.get("diffusion_steps_done", planned))
    if done >= planned:
        return f"{planned:,} steps"
    return (
        f"{done:,} of {planned:,} planned steps (exported from a checkpoint before the end, "
        "with the learning rate still on its way down)"
    )


def _count(value: int | None) -> str:
    if value is None:
        return "?"
    return f"{value / 1e6:.2f} M"


def _widths(widths: list[int]) -> str:
    return "/".join(str(width) for width in widths)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unrecorded time"
    minutes = round(seconds / 60)
    return f"{minutes} minutes" if minutes else f"{seconds:.0f} seconds"
