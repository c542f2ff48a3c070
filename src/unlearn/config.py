"""Experiment settings: a pydantic model per command, read from YAML and the command line.

Every field of a settings model is also a command-line flag (``learning_rate`` ->
``--learning-rate``), so the YAML file and the flags can never drift apart. Flags override
the file. YAML is read with ``safe_load``: data only, no objects built from strings.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import types
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from unlearn.errors import UserError

log = logging.getLogger(__name__)


def add_settings_flags(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """One flag per field; unset flags stay absent so YAML values and defaults apply."""
    parser.add_argument("--config", metavar="YAML", help="read settings from this YAML file (flags override it)")
    for name, field in model.model_fields.items():
        kind = _unwrap(field.annotation)
        if typing.get_origin(kind) is dict or _is_settings(kind):  # parts' settings: namespaced flags (add_part_flags)
            continue
        flag = "--" + name.replace("_", "-")
        # a required setting is listed apart, but not argparse-required: the --config file may give it
        group = required_group(parser) if field.is_required() else parser
        options: dict = {"dest": name, "default": argparse.SUPPRESS, "help": field_help(field)}
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
        elif typing.get_origin(kind) is typing.Literal:
            # validated by pydantic, so a bad value gets the same one-line message as in YAML
            group.add_argument(flag, metavar="{" + ",".join(str(c) for c in typing.get_args(kind)) + "}", **options)
        elif typing.get_origin(kind) is list:
            group.add_argument(flag, nargs="+", metavar="VALUE", **options)
        else:
            group.add_argument(flag, type=str, metavar=_metavar(kind), **options)


REQUIRED_TITLE = "required arguments"


def required_group(parser: argparse.ArgumentParser):
    """The parser's group of required flags, made on first use and listed before the optional ones, so
    that --help shows which flags a command cannot run without."""
    for group in parser._action_groups:
        if group.title == REQUIRED_TITLE:
            return group
    group = parser.add_argument_group(REQUIRED_TITLE)
    parser._action_groups.insert(1, parser._action_groups.pop())  # after the positionals, before 'options'
    return group


def field_help(field) -> str:
    """A setting's flag help: its description and its default, said once (a description that names its
    default in its own words, "(default: torch's choice)", keeps only those); a required setting says
    that the --config file may give it instead."""
    text = field.description or ""
    if field.is_required():
        text += " (or in the --config file)"
    elif "default:" not in text:
        text += f" (default: {field.get_default(call_default_factory=True)})"
    # argparse reads '%' in help as a format field ("Min-K%" ended --help in a KeyError)
    return text.strip().replace("%", "%%")


def flag_values(model: type[BaseModel], args: argparse.Namespace) -> dict:
    """The settings of ``model`` given as flags (unset flags are absent)."""
    return {name: getattr(args, name) for name in model.model_fields if hasattr(args, name)}


def settings_from(model: type[BaseModel], values: dict, config: str | Path | None = None,
                  source: str = "settings"):
    """Validate ``values`` into ``model``, on top of the YAML file ``config`` if given (values win)."""
    merged = {**(read_yaml(config) if config else {}), **values}
    return validate_settings(model, merged, f"{config} / {source}" if config else source)


def resolve_settings(model: type[BaseModel], args: argparse.Namespace):
    """Merge the YAML file (if any) with the flags given, then validate into ``model``. Parts' flags
    (``--npo.beta``) go into the field ``model.part_field(part)`` names (default: its ``PART_ARGS``), over
    the file's values for the same part; a field that holds one part's settings itself (``curve:
    {every_steps: 5}``, flags ``--curve.every-steps``) takes them flat."""
    config = getattr(args, "config", None)
    values = flag_values(model, args)
    values.update({name: getattr(args, name) for name in getattr(model, "RENAMED", {}) if hasattr(args, name)})
    flagged = part_flag_values(args)
    in_file = (read_yaml(config) if config else {}) if flagged else {}
    route = getattr(model, "part_field", lambda part: model.PART_ARGS)
    for part, settings in flagged.items():
        field = route(part)
        given = in_file.get(field) if field not in values else values[field]
        given = given if isinstance(given, dict) else {}
        one_part = _is_settings(_unwrap(model.model_fields[field].annotation))
        values[field] = {**given, **settings} if one_part else merge_part_args(given, {part: settings})
    return settings_from(model, values, config, "command line")


def _is_settings(kind) -> bool:
    """Whether a field's type is a settings model of its own (one part's settings held in one field)."""
    return isinstance(kind, type) and issubclass(kind, BaseModel)


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
    # a settings class may still accept the flat names of a release ago (``ForgetSettings.RENAMED``)
    unknown = [k for k in values if k not in model.model_fields and k not in getattr(model, "RENAMED", {})]
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
        if first["type"] == "value_error":  # a check across settings says what is wrong in its own words
            raise UserError(f"{source}: {first['ctx']['error']}") from None
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


NONE_WORDS = ("", "none", "null")  # a split, model or path setting given as one of these means "none"


def none_word(cls, value):
    """A setting given as a word for "none" (``--holdout none``, YAML ``holdout: null`` or ``""``) read as None,
    so a flag can turn off what its default turns on; other values unchanged. For ``field_validator(...,
    mode="before")``."""
    return None if isinstance(value, str) and value.strip().lower() in NONE_WORDS else value


def comma_list(cls, value):
    """A list setting given as one string, a list, or flags' values, each part split at commas
    (``--attacks relearn,paraphrase`` and ``attacks: [relearn, paraphrase]`` mean the same)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        value = [part.strip() for item in value for part in str(item).split(",") if part.strip()]
    return value


# ---- settings owned by one part (a loss term, a method family, an attack): namespaced flags and YAML sections


class PartSettings(BaseModel):
    """The settings one part declares for itself (``NPO``'s beta, ``RMU``'s layer, ...).

    They reach the part namespaced: ``--npo.beta 0.2`` on the command line, ``method_args: {NPO: {beta: 0.2}}``
    in YAML, so no settings class holds another part's knobs."""

    model_config = ConfigDict(extra="forbid")


def part_flag(part: str, name: str) -> str:
    """``("NPO", "dual_step")`` -> ``--npo.dual-step``."""
    return f"--{part.lower()}.{name.replace('_', '-')}"


PART_DEST = "part:"  # argparse dest prefix of a part's flag: ``part:NPO.beta``


def add_part_flags(parser: argparse.ArgumentParser, parts: dict[str, type[BaseModel]], used_by: dict[str, str]) -> None:
    """One flag group per part (``--npo.beta``), each flag help naming what uses it; unset flags stay absent."""
    for part, model in parts.items():
        group = parser.add_argument_group(f"{part} settings ({used_by[part]})")
        for name, field in model.model_fields.items():
            kind = _unwrap(field.annotation)
            options: dict = {"dest": f"{PART_DEST}{part}.{name}", "default": argparse.SUPPRESS,
                             "help": field_help(field)}
            if kind is bool:
                group.add_argument(part_flag(part, name), action=argparse.BooleanOptionalAction, **options)
            elif typing.get_origin(kind) is list:
                group.add_argument(part_flag(part, name), nargs="+", metavar="VALUE", **options)
            else:
                group.add_argument(part_flag(part, name), type=str, metavar=_part_metavar(kind), **options)


def _part_metavar(kind) -> str:
    if typing.get_origin(kind) is typing.Literal:
        return "{" + ",".join(str(c) for c in typing.get_args(kind)) + "}"
    return _metavar(kind)


def part_flag_values(args: argparse.Namespace) -> dict[str, dict]:
    """The part settings given as flags: ``{"NPO": {"beta": "0.2"}}``."""
    values: dict[str, dict] = {}
    for dest, value in vars(args).items():
        if dest.startswith(PART_DEST):
            part, _, name = dest[len(PART_DEST):].partition(".")
            values.setdefault(part, {})[name] = value
    return values


def check_part_args(given: dict, parts: dict[str, type[BaseModel]], owner: str, section: str) -> dict[str, dict]:
    """Validate ``{part: {setting: value}}`` against the settings of the parts ``owner`` uses; keys
    match part names in any case. A part that ``owner`` does not use is refused, never ignored.
    Returns the values as JSON-ready dicts under each part's own name."""
    if not isinstance(given, dict):
        raise ValueError(f"{section} must be a mapping of part: {{setting: value}}")
    by_lower = {name.lower(): name for name in parts}
    checked = {}
    for key, values in given.items():
        part = by_lower.get(str(key).lower())
        if part is None:
            uses = f"its parts with settings: {', '.join(parts)}" if parts else "it has no part with settings"
            raise ValueError(f"settings of '{key}' do not apply to {owner} ({uses})")
        if not isinstance(values, dict):
            raise ValueError(f"{section}.{part} must be a mapping of setting: value")
        try:
            checked[part] = parts[part].model_validate(values).model_dump(exclude_unset=True)
        except ValidationError as error:
            first = error.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                raise ValueError(f"{section}.{part}: unknown setting '{name}' (accepted: "
                                 f"{', '.join(parts[part].model_fields)})") from None
            raise ValueError(f"{section}.{part}.{name} = {first.get('input')!r}: {first['msg']}") from None
    return checked


def merge_part_args(base: dict, over: dict) -> dict:
    """``over``'s part settings on top of ``base``'s, setting by setting; part names match in any case."""
    merged = {key: dict(values) if isinstance(values, dict) else values for key, values in base.items()}
    for part, values in over.items():
        key = next((k for k in merged if str(k).lower() == part.lower()), part)
        merged[key] = {**(merged.get(key) or {}), **values}
    return merged


def add_renamed_flags(parser: argparse.ArgumentParser, model: type[BaseModel], booleans: tuple[str, ...] = ()) -> None:
    """Release 0.1's flat flags (``--rmu-layer``), still read for one release but no longer listed; each
    takes one or more values, which the settings class fits to the setting it was renamed to. Those in
    ``booleans`` were switches, and stay ``--x`` / ``--no-x``."""
    for name in getattr(model, "RENAMED", {}):
        flag = "--" + name.replace("_", "-")
        if name in booleans:
            parser.add_argument(flag, dest=name, default=argparse.SUPPRESS, action=argparse.BooleanOptionalAction,
                                help=argparse.SUPPRESS)
        else:
            parser.add_argument(flag, dest=name, default=argparse.SUPPRESS, nargs="+", help=argparse.SUPPRESS)


def old_flag_value(value, model: type[BaseModel], name: str):
    """An old flat flag's value fitted to the setting it was renamed to: its one value unwrapped (old flags
    take one or more), unless the setting takes a list."""
    takes_list = typing.get_origin(_unwrap(model.model_fields[name].annotation)) is list
    return value[0] if isinstance(value, list) and len(value) == 1 and not takes_list else value


def move_renamed(values: dict, renamed: dict, parts: dict[str, type[BaseModel]], field: str, absent: str) -> dict:
    """Release 0.1's flat names in ``values`` (``renamed``: old name -> (the parts that took it, its name
    there)) moved into ``values[field][part][name]`` for each of those parts in ``parts``, with a warning
    naming the new flag; a name none of whose parts is in ``parts`` is dropped with a warning that says
    why (``absent``, e.g. "not method GA+GD"). Returns a new dict; ``values`` is left as it is."""
    moved = dict(values)
    args = {key: dict(given) for key, given in (moved.get(field) or {}).items()}
    for old in [key for key in moved if key in renamed]:
        value = moved.pop(old)
        candidates, name = renamed[old]
        used = [part for part in candidates if part in parts]
        for part in used:
            args.setdefault(part, {}).setdefault(name, old_flag_value(value, parts[part], name))
        if used:
            log.warning("setting '%s' is renamed %s (YAML: %s: {%s: {%s: ...}}); the old name goes in release 0.3",
                        old, part_flag(used[0], name), field, used[0], name)
        else:
            log.warning("setting '%s' is for %s, %s: ignored", old, " or ".join(candidates), absent)
    moved[field] = args
    return moved
