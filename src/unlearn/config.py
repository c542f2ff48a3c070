"""Experiment settings: a pydantic model per command, read from YAML and the command line.

Every field of a settings model is also a command-line flag (``learning_rate`` ->
``--learning-rate``), so the YAML file and the flags can never drift apart. Flags override
the file. YAML is read with ``safe_load``: data only, no objects built from strings.
"""

from __future__ import annotations

import argparse
import difflib
import types
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from unlearn.errors import UserError


def add_settings_flags(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """One flag per field; unset flags stay absent so YAML values and defaults apply."""
    parser.add_argument("--config", metavar="YAML", help="read settings from this YAML file (flags override it)")
    for name, field in model.model_fields.items():
        kind = _unwrap(field.annotation)
        flag = "--" + name.replace("_", "-")
        default = "required" if field.is_required() else f"default: {field.default}"
        # argparse reads '%' in help as a format field ("Min-K%" ended --help in a KeyError)
        help_text = f"{field.description or ''} ({default})".strip().replace("%", "%%")
        options: dict = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
        elif typing.get_origin(kind) is typing.Literal:
            # validated by pydantic, so a bad value gets the same one-line message as in YAML
            parser.add_argument(flag, metavar="{" + ",".join(str(c) for c in typing.get_args(kind)) + "}", **options)
        elif typing.get_origin(kind) is list:
            parser.add_argument(flag, nargs="+", metavar="VALUE", **options)
        else:
            parser.add_argument(flag, type=str, metavar=_metavar(kind), **options)


def flag_values(model: type[BaseModel], args: argparse.Namespace) -> dict:
    """The settings of ``model`` given as flags (unset flags are absent)."""
    return {name: getattr(args, name) for name in model.model_fields if hasattr(args, name)}


def settings_from(model: type[BaseModel], values: dict, config: str | Path | None = None,
                  source: str = "settings"):
    """Validate ``values`` into ``model``, on top of the YAML file ``config`` if given (values win)."""
    merged = {**(read_yaml(config) if config else {}), **values}
    return validate_settings(model, merged, f"{config} / {source}" if config else source)


def resolve_settings(model: type[BaseModel], args: argparse.Namespace):
    """Merge the YAML file (if any) with the flags given, then validate into ``model``."""
    return settings_from(model, flag_values(model, args), getattr(args, "config", None), "command line")


def read_yaml(path: str | Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read config {path}: {getattr(error, 'strerror', None) or error}") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: not valid YAML ({getattr(error, 'problem', None) or error})") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: a config must be a mapping of setting: value")
    if _expanded_size(data, {}, set()) > MAX_VALUES:
        raise UserError(f"{path}: the settings expand to more than {MAX_VALUES} values (YAML aliases '*' repeat "
                        "what they name); write the settings out plainly")
    return data


MAX_VALUES = 100_000  # a config's values once its aliases are expanded; far beyond any real one


def _expanded_size(value, sizes: dict[int, int], open_ids: set[int]) -> int:
    """How many values ``value`` holds with every alias expanded, counted once per shared node
    (so a billion-laughs document is measured without being expanded); a node that holds itself
    counts as too large."""
    if not isinstance(value, (dict, list)):
        return 1
    key = id(value)
    if key in open_ids:
        return MAX_VALUES + 1
    if key not in sizes:
        open_ids.add(key)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        sizes[key] = 1 + sum(_expanded_size(v, sizes, open_ids) for _, v in items)
        open_ids.discard(key)
    return sizes[key]


def validate_settings(model: type[BaseModel], values: dict, source: str = "settings"):
    unknown = [k for k in values if k not in model.model_fields]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(model.model_fields), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (accepted: {', '.join(model.model_fields)})"
        raise UserError(f"{source}: unknown setting '{unknown[0]}'{hint}")
    try:
        return model.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        if first["type"] == "missing":
            raise UserError(f"{source}: setting '{name}' is required") from None
        given = first.get("input")
        raise UserError(f"{source}: invalid setting '{name}' = {given!r}: {first['msg']}") from None


def _metavar(kind) -> str:
    if typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return getattr(kind, "__name__", "VALUE").upper()


def _unwrap(annotation):
    """The inner type of ``X | None``; other annotations unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def comma_list(cls, value):
    """A list setting given as one string, a list, or flags' values, each part split at commas
    (``--attacks relearn,paraphrase`` and ``attacks: [relearn, paraphrase]`` mean the same)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        value = [part.strip() for item in value for part in str(item).split(",") if part.strip()]
    return value
