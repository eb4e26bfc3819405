"""Commands on the preference data: curate (what an export would keep) and export."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bot.config import Settings
from bot.core.errors import UserError

if TYPE_CHECKING:
    from storage.labels.curate import Curation
from bot.cli.common import JsonOption, fail, progress_display, read_settings

commands = typer.Typer()


def _curation(
    settings: Settings,
    min_signals: int,
    min_entropy: float | None,
    since: str | None,
    until: str | None,
    model: list[str] | None,
    keep_duplicates: bool,
) -> Curation:
    """curate's and export's options, checked before anything is opened; bad ones end in one
    line."""
    from bot.core.data.curation import curation_from

    try:
        return curation_from(
            settings,
            min_signals=min_signals,
            min_entropy=min_entropy,
            since=since,
            until=until,
            models=model or [],
            keep_duplicates=keep_duplicates,
        )
    except UserError as error:
        fail(str(error), 2)


# What curate and export are both told: which people, times and models the data keeps.
MinSignalsOption = Annotated[
    int,
    typer.Option(
        "--min-signals", min=0, help="Leave out people with fewer clicks, reactions, ratings."
    ),
]
MinEntropyOption = Annotated[
    float | None,
    typer.Option(
        "--min-entropy",
        min=0.0,
        max=2.0,
        help="Leave out people whose U-clicks keep to a few positions: bits, 0 (always the "
        "same one) to 2 (all four alike).",
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Only what was said from this day or time on (ISO, UTC)."),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="Only what was said up to this day (inclusive) or time."),
]
ModelOption = Annotated[
    list[str] | None,
    typer.Option("--model", help="Only pictures made by this model version (repeatable)."),
]
KeepDuplicatesOption = Annotated[
    bool, typer.Option("--keep-duplicates", help="Keep byte-identical pictures.")
]


@commands.command("export")
def export_dataset(
    format: Annotated[
        str, typer.Option("--format", help="pairs (Diffusion-DPO), kto or rankings (lossless).")
    ],
    out: Annotated[Path, typer.Option("--out", help="A new folder for the dataset.")],
    min_signals: MinSignalsOption = 0,
    min_entropy: MinEntropyOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    model: ModelOption = None,
    keep_duplicates: KeepDuplicatesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Export what people clicked as a Hugging Face datasets folder (parquet shards and a
    dataset card), with people as keyed pseudonyms (PICKLOOP_EXPORT_SECRET).

    The data is curated as `pickloop curate` reports it, with the same options."""
    from bot.core.data.exports import check_secret, checked_format, export_data

    settings = read_settings()
    curation = _curation(settings, min_signals, min_entropy, since, until, model, keep_duplicates)
    try:
        chosen = checked_format(format)
    except UserError as error:
        fail(f"--format {error}", 2)
    try:
        check_secret(settings)
    except UserError as error:
        fail(str(error), 2)
    from storage.imagestore import ImageStoreError

    with _rows_bar(enabled=not as_json) as progress:
        try:
            done = asyncio.run(
                export_data(settings, chosen, out, curation=curation, progress=progress)
            )
        except UserError as error:
            fail(str(error), 2)
        except ImageStoreError as error:
            fail(f"the export stopped, nothing was written: {error}", 1)
        except OSError as error:
            # Its folder, or the staging folder beside it, cannot be made there.
            fail(
                f"cannot write the export to {out} ({error.strerror}): give --out a folder in a "
                "place you may write",
                1,
            )
    if as_json:
        print(json.dumps(done))
        return
    splits = ", ".join(f"{split} {rows}" for split, rows in done["splits"].items())
    print(f"exported {done['rows']} {done['format']} rows to {done['folder']} ({splits})")


@contextmanager
def _rows_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """One progress bar on stderr for rows written, only when a person is watching."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    with progress_display() as bars:
        task = bars.add_task("exporting", total=None)

        def advance(written: int, total: int) -> None:
            bars.update(task, completed=written, total=total)

        yield advance


@commands.command("curate")
def curate_data(
    min_signals: MinSignalsOption = 0,
    min_entropy: MinEntropyOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    model: ModelOption = None,
    keep_duplicates: KeepDuplicatesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Report what the preference data holds once curated, and what each filter took out.

    People who opted out or are blocked are always left out, and so are prompts with a word of
    PICKLOOP_BANNED_WORDS."""
    from rich.table import Table

    from bot.core.data.curation import check_model_versions
    from bot.core.opening import open_database_with_data
    from storage.labels.curate import CurationReport, curate

    settings = read_settings()
    options = _curation(settings, min_signals, min_entropy, since, until, model, keep_duplicates)

    async def work() -> CurationReport:
        database = await open_database_with_data(settings)
        try:
            await check_model_versions(database, options)
            return await curate(database, options)
        finally:
            await database.dispose()

    try:
        report = asyncio.run(work())
    except UserError as error:
        fail(str(error), 2)
    if as_json:
        print(json.dumps(report.to_json()))
        return
    out = Console(highlight=False)
    agreement = report.agreement
    out.print(
        f"[bold]kept[/] {report.pairs} pairs, {report.ties} ties, "
        f"{report.positive_labels + report.negative_labels} labels ({report.positive_labels} "
        f"good, {report.negative_labels} bad) · {report.prompts} prompts · {report.people} "
        f"people · {report.grids} grids"
    )
    out.print(
        f"derived before curating: {report.derived_pairs} pairs, {report.derived_labels} labels"
    )
    clicks = " · ".join(f"U{n + 1} {count}" for n, count in enumerate(report.click_positions))
    out.print(f"U-clicks by position (people kept): {clicks}")
    if agreement.majority_share is None:
        out.print("agreement: no two people judged the same two pictures")
    else:
        out.print(
            f"agreement: {agreement.contested_pairs} pairs judged by two people or more; "
            f"{agreement.majority_share:.0%} of {agreement.judgements} judgements side with the "
            f"majority"
        )
    table = Table("removed by", "pairs", "ties", "labels", "people")
    for removed in report.removed:
        people = "" if removed.people is None else str(removed.people)
        table.add_row(
            removed.filter, str(removed.pairs), str(removed.ties), str(removed.labels), people
        )
    out.print(table)
