"""Command-line flags made from ``TrainingOptions``: its fields, bounds and descriptions say
what ``pickloop train`` and ``pickloop loop-demo`` accept, so no flag is declared twice.

A command decorated with ``training_flags`` takes ``training: TrainingOptions`` (checked, with
the flags given); the flags take the place of that parameter in what typer reads.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

import typer
from annotated_types import Ge, Le
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from bot.cli.common import fail
from engine.train.options import TrainingOptions, options_problem

# The flags' parameter names, apart from the command's own (the loop demo has its own --steps).
_PREFIX = "training_"


def _bounds(field: FieldInfo) -> dict[str, Any]:
    """click's min and max (inclusive, as click checks them) from the field's own bounds; an
    exclusive bound is left to pydantic, which says so in its one-line refusal."""
    bounds: dict[str, Any] = {}
    for rule in field.metadata:
        if isinstance(rule, Ge):
            bounds["min"] = rule.ge
        elif isinstance(rule, Le):
            bounds["max"] = rule.le
    return bounds


def _flag_of(name: str, field: FieldInfo, renamed: Mapping[str, str]) -> str:
    if name in renamed:
        return renamed[name]
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("flag"), str):
        return str(extra["flag"])
    return "--" + name.replace("_", "-")


def _parameter(
    name: str, field: FieldInfo, default: Any, renamed: Mapping[str, str], helps: Mapping[str, str]
) -> inspect.Parameter:
    kind = field.annotation
    help_text = helps.get(name, field.description)
    if get_origin(kind) is Literal:
        # typer reads choices from enums, not Literals; pydantic checks the value.
        help_text = f"{help_text} One of: {', '.join(map(str, get_args(kind)))}."
        kind = str
    bounds = _bounds(field) if kind in (int, float) else {}
    option = typer.Option(_flag_of(name, field, renamed), help=help_text, **bounds)
    return inspect.Parameter(
        _PREFIX + name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, option],
    )


def training_flags(
    defaults: TrainingOptions,
    *,
    skip: Collection[str] = ("method",),
    renamed: Mapping[str, str] | None = None,
    helps: Mapping[str, str] | None = None,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command one flag per field of ``TrainingOptions`` (but those in ``skip``), with
    ``defaults``' values; ``renamed`` gives some fields other flags (the loop demo's training
    steps are ``--train-steps``, since its ``--steps`` are denoising steps) and ``helps`` other
    help texts."""
    names = [name for name in TrainingOptions.model_fields if name not in skip]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(command, include_extras=True)
        own = [
            parameter.replace(annotation=hints[parameter.name])
            for parameter in inspect.signature(command).parameters.values()
            if parameter.name != "training"
        ]
        fields = TrainingOptions.model_fields
        made = [
            _parameter(name, fields[name], getattr(defaults, name), renamed or {}, helps or {})
            for name in names
        ]

        flags = {name: _flag_of(name, fields[name], renamed or {}).split("/")[0] for name in names}

        @functools.wraps(command)
        def with_options(**given: Any) -> None:
            chosen = {name: given.pop(_PREFIX + name) for name in names}
            try:
                training = defaults.changed(**chosen)
            except ValidationError as error:
                fail(options_problem(error, flags), 2)
            command(training=training, **given)

        with_options.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [*own, *made]
        )
        with_options.__annotations__ = {p.name: p.annotation for p in [*own, *made]}
        return with_options

    return decorate
