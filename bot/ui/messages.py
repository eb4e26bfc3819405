"""What people see in Discord: captions, refusals and image attachments, in one place."""

from __future__ import annotations

import io
from pathlib import Path

import discord
import PIL.Image

from bot.core.jobs.job_view import JobView

# Discord refuses message content over 2,000 characters.
MAX_CONTENT = 2000
# WebP qualities a grid preview is tried at, best first, until one fits the upload limit.
PREVIEW_QUALITIES = (90, 75, 50)
# A prompt's excerpt in one line of a list of jobs: a list of 20 stays under the 2,000.
EXCERPT = 60


def caption(view: JobView, clicker_id: int) -> str:
    """Midjourney-style: the prompt in bold, then what this message is and who asked for it."""
    prompt = discord.utils.escape_markdown(view.prompt) or "(no prompt)"
    what = {
        "imagine": _from_pictures(view),
        "reroll": " — Re-roll",
        "variation": f" — Variations ({(view.parameters.variation or 'subtle').title()})",
        "upscale": " — Upscaled (Creative)" if view.parameters.creative else " — Upscaled",
        "edit": f" — {_edit_name(view)}",
    }.get(view.kind, "")
    tail = f"{what} <@{clicker_id}> · job `{view.job_id}`"
    room = MAX_CONTENT - len(tail) - 4
    if len(prompt) > room:
        prompt = prompt[: room - 1] + "…"
    return f"**{prompt}**{tail}"


def recipe(view: JobView) -> str:
    """Everything needed to make the picture again, for the ✉️ reaction."""
    p = view.parameters
    seeds = ", ".join(str(seed) for seed in view.seeds)
    lines = [
        f"**{discord.utils.escape_markdown(view.prompt)[:1200]}**",
        f"job `{view.job_id}` · model {view.model} · {p.width}x{p.height}",
        f"steps {p.steps} · cfg {p.guidance} · seeds {seeds}",
    ]
    if view.negative_prompt:
        lines.append(f"--no {discord.utils.escape_markdown(view.negative_prompt)[:300]}")
    # What else the grid was drawn with: without it the seeds draw other pictures.
    drawn_with = [f"--chaos {p.chaos}"] if p.chaos else []
    drawn_with += ["--tile"] if p.tile else []
    if p.images:
        # The pictures themselves are the person's; the recipe says they were there.
        drawn_with.append(f"from {_pictures(p.images)} · --iw {p.image_weight:g}")
    if drawn_with:
        lines.append(" ".join(drawn_with))
    return "\n".join(lines)


def _from_pictures(view: JobView) -> str:
    """What a grid started from, when it started from given pictures."""
    count = view.parameters.images
    if not count:
        return ""
    return " — Blend" if count > 1 else f" — from {_pictures(count)}"


def _pictures(count: int) -> str:
    return "an image" if count == 1 else f"{count} images"


def _edit_name(view: JobView) -> str:
    """Midjourney's name for what an edit did."""
    p = view.parameters
    if p.edit == "zoom_out":
        return f"Zoom Out {p.zoom:g}x"
    if p.edit == "pan":
        return f"Pan {p.direction}"
    if p.edit == "make_square":
        return "Make Square"
    return f"Vary (Region: {', '.join(p.regions or ())})"


def title(view: JobView) -> str:
    """What a job is, in a few words: its prompt, or the data work it does."""
    export, fine_tune = view.parameters.export, view.parameters.fine_tune
    if export is not None:
        return f"Export of the {export.format} dataset"
    if fine_tune is not None:
        return f"Fine-tune ({fine_tune.training.get('method', 'dpo')}) of {fine_tune.model}"
    return discord.utils.escape_markdown(view.prompt)[:1500]


def outcome(view: JobView) -> str:
    """What a finished data job made, for the admin who asked."""
    found = view.outcome or {}
    if view.parameters.export is not None:
        splits = ", ".join(f"{split} {rows}" for split, rows in found.get("splits", {}).items())
        return (
            f"Exported {found.get('rows', 0)} {found.get('format')} rows ({splits}) on the "
            f"server, to `{found.get('folder')}`. `datasets.load_dataset` reads that folder as "
            f"it is. · job `{view.job_id}`"
        )
    accuracy = found.get("implicit_accuracy")
    validated = f"; validation implicit accuracy {accuracy:.1%}" if accuracy is not None else ""
    return (
        f"Fine-tuned ({found.get('method')}, {found.get('steps')} steps, "
        f"{found.get('seconds')} s{validated}): the adapter is on the server, in "
        f"`{found.get('adapter')}`. · job `{view.job_id}`"
    )


def in_progress(view: JobView, step: int, total: int) -> str:
    prompt = title(view)
    percent = round(100 * step / total) if total else 0
    return f"**{prompt}** — {percent}% (step {step} of {total}) · job `{view.job_id}`"


def queued(view: JobView, position: int) -> str:
    prompt = title(view)
    return f"**{prompt}** — Queued: position {position} · job `{view.job_id}`"


def waiting(view: JobView) -> str:
    """A job of a set, before its place in line is known."""
    return f"**{title(view)}** — Queued · job `{view.job_id}`"


def held(view: JobView) -> str:
    # Which machine could not be reached is the operator's business (it is in the log).
    prompt = title(view)
    return (
        f"**{prompt}** — Waiting: the image engine is unavailable right now; your job keeps "
        f"its place in the queue and runs once it is back · job `{view.job_id}`"
    )


def unfinished(view: JobView) -> str:
    """A job with no picture to show: why, in words."""
    if view.status == "failed":
        reason = view.error or "no reason was recorded"
        return f"Sorry, job `{view.job_id}` failed: {reason}\nTry again, or change the prompt."
    if view.status == "cancelled":
        return f"Job `{view.job_id}` was cancelled."
    # Queued or running on another worker: it is delivered by whoever runs it.
    return f"Job `{view.job_id}` is {view.status}; /show it again once it is done."


def image_file(view: JobView, size_limit: int) -> discord.File:
    """The job's picture as one attachment: a grid as WebP, an upscale as PNG.

    A grid is a preview to choose from (its four images are kept whole and a U-click brings
    one back as PNG), so it goes as WebP, several times lighter, and reaches people sooner.
    An upscale keeps every pixel, unless it is over the channel's upload limit.
    """
    if view.grid_path is None:
        raise ValueError(f"job {view.job_id} has no picture yet")
    png = Path(view.grid_path).read_bytes()
    name = f"pickloop_{view.job_id}"
    if view.kind == "upscale":
        return picture_file(png, name, size_limit)
    return preview_file(png, name, size_limit)


def preview_file(png: bytes, name: str, size_limit: int) -> discord.File:
    """A PNG as a WebP attachment, at a lower quality when the usual one is over the limit."""
    with PIL.Image.open(io.BytesIO(png)) as image:
        for quality in PREVIEW_QUALITIES:
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="WEBP", quality=quality, method=4)
            if buffer.tell() <= size_limit:
                break
    buffer.seek(0)
    return discord.File(buffer, filename=f"{name}.webp")


def picture_file(png: bytes, name: str, size_limit: int) -> discord.File:
    """A PNG as an attachment named ``name``, as JPEG when it is over the upload limit."""
    if len(png) <= size_limit:
        return discord.File(io.BytesIO(png), filename=f"{name}.png")
    with PIL.Image.open(io.BytesIO(png)) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=90)
    buffer.seek(0)
    return discord.File(buffer, filename=f"{name}.jpg")


def excerpt(prompt: str) -> str:
    """A prompt on one short line, for lists of jobs."""
    text = " ".join(prompt.split())
    text = text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
    return str(discord.utils.escape_markdown(text))


def standing(status: str, position: int | None) -> str:
    """Where an unfinished job stands: running, starting (a worker has claimed it), or its
    place in the queue (1: next)."""
    if status == "running":
        return "running now"
    if position is None:
        return "starting"
    return f"position {position}"
