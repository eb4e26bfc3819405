"""The README.md dataset card: YAML front matter ``datasets`` reads (license, configs with
each split's files), then what a person needs to use the data well."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from storage.export.formats import Format
from storage.export.splits import TIES

_DERIVATION = """\
Every row is derived from pickloop's append-only event log (what people clicked, reacted and
answered), never typed in by hand; `docs/preferences.md` in pickloop describes the rules in
full. In short: a U-click (upscale) on one picture of a 2x2 grid says it beats each picture of
that grid left unclicked; several U-clicks make each clicked picture beat each unclicked one.
A V-click (variations) is a weak positive. A re-roll (🔄) says none of the four was good: a
negative for each picture, and no pairs. Explicit reactions (❤️ ⭐ 👍 👎) and `/rate` choices
outrank the implicit clicks. A `/rate` tie is a pair with labels 0.5 / 0.5."""

_PRIVACY = """\
People appear only as keyed pseudonyms: an HMAC-SHA256 of pickloop's internal id under the
operator's secret, the same in every export made with that secret and unlinkable to anyone
without it. No Discord id, name, server or channel is in this dataset. People who opted out of
data collection, or who are blocked, are left out, and so are the grids they made."""


def _yaml(text: str) -> str:
    # A JSON string is a valid YAML scalar, whatever the text holds.
    return json.dumps(text, ensure_ascii=False)


_CURATION = (
    "People who opted out of exports or are blocked, and the grids they own, are always left "
    "out. These filters applied besides (`pickloop curate` reports what each one removes):"
)


def dataset_card(
    format: Format[Any],
    counts: Mapping[str, int],
    shards: Mapping[str, Sequence[str]],
    fingerprint: str,
    *,
    license: str,
    split_shares: str,
    curation: Mapping[str, Any] | None = None,
) -> str:
    """The card; ``shards`` are each split's file names under ``data/``, which carry their
    content's fingerprint, and ``fingerprint`` is the whole export's."""
    front = ["---", f"license: {_yaml(license)}", "task_categories:", "- text-to-image"]
    front += ["tags:", "- pickloop", "- human-preferences", f"- {_yaml(format.name)}"]
    front += ["configs:", "- config_name: default", "  data_files:"]
    # Each file by name, never a pattern: ``datasets`` keys its cache by what the card lists,
    # so a pattern such as data/train-* would hand back an earlier export's rows for a new
    # folder of the same name.
    for split in (split for split in format.splits if counts.get(split)):
        front += [f"  - split: {split}", "    path:"]
        front += [f"    - data/{name}" for name in shards[split]]
    front.append("---")

    total = sum(counts.values())
    body = [
        f"# pickloop {format.name} preferences",
        "",
        f"Human preference data collected by a pickloop image bot: {total} rows, each "
        f"{format.row_kind}.",
        "",
        "```python",
        "import datasets",
        'data = datasets.load_dataset("path/to/this/folder")',
        "```",
        "",
        f"Fingerprint: `{fingerprint}` (the SHA-256 of the shard names, each of which ends in "
        "its file's own content hash): two exports share it only if they hold the same rows.",
        "",
        "## Splits",
        "",
        "| split | rows |",
        "| --- | ---: |",
        *(f"| {split} | {counts.get(split, 0)} |" for split in format.splits),
        "",
        f"Rows are split by prompt ({split_shares}), so no prompt is in two of "
        "`train`, `validation_unique` and `test_unique`; a prompt's split follows from the "
        "prompt alone and stays the same in later exports.",
    ]
    if not all(counts.get(split) for split in format.splits):
        body += [
            "",
            "A split with no rows has no files and is left out of the configs, since `datasets` "
            "cannot load an empty split.",
        ]
    if TIES in format.splits:
        body += [
            "",
            "Ties are in `ties` only: the Diffusion-DPO reader does not drop them, so `train` "
            "holds none. The diffusers Diffusion-DPO script reads `train` as it is: "
            "`--dataset_name=path/to/this/folder --dataset_split_name=train`.",
        ]
    body += ["", "## Columns", "", "| column | meaning |", "| --- | --- |"]
    body += [f"| `{name}` | {meaning} |" for name, meaning in format.columns.items()]
    body += ["", "## How the labels were derived", "", _DERIVATION]
    if curation is not None:
        body += ["", "## Curation", "", _CURATION, "", "| option | value |", "| --- | --- |"]
        body += [f"| `{name}` | `{json.dumps(value)}` |" for name, value in curation.items()]
    body += ["", "## Privacy", "", _PRIVACY]
    body += ["", "## License", "", f"`{license}`, as set by the operator of this pickloop bot.", ""]
    return "\n".join([*front, *body])
