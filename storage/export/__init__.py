"""Dataset export: derived preference rows as Hugging Face ``datasets`` folders."""

from storage.export.dataset import (
    DEFAULT_LICENSE,
    ExportError,
    ExportOptions,
    ExportResult,
    export_dataset,
    export_from_database,
    finished_export,
    label_counts,
    split_rows,
)
from storage.export.exclusions import Exclusions, load_exclusions
from storage.export.formats import FORMATS, Format
from storage.export.pseudonym import MissingSecretError, Pseudonyms
from storage.export.splits import SplitPlan

__all__ = [
    "DEFAULT_LICENSE",
    "FORMATS",
    "Exclusions",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "Format",
    "MissingSecretError",
    "Pseudonyms",
    "SplitPlan",
    "export_dataset",
    "export_from_database",
    "finished_export",
    "label_counts",
    "load_exclusions",
    "split_rows",
]
