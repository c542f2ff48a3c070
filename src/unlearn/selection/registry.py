"""The checkpoint selection rules: one registration each, read by whatever chooses a checkpoint.

A rule is a ``SelectionRule``: its name, a one-line description, a pure function
``select(curve, **settings) -> Selection`` and its settings as a ``PartSettings`` class, so a command
line or a YAML file can reach them namespaced like every other part's settings. Registration checks
that the function's keyword parameters are exactly the settings' fields with the same defaults, so the
two cannot drift. This module stays light (pydantic only).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Literal

from pydantic import ValidationError

from unlearn.config import PartSettings, check_part_args
from unlearn.errors import UserError
from unlearn.registry import Registry
from unlearn.selection.curve import Checkpoint, Selection


@dataclass(frozen=True)
class Reference:
    """A rule's setting that holds a reference model's number: the value (or the interval) of the metric
    named by the rule's setting ``metric_setting``, on the ``anchor`` model (``target``: the model
    unlearning starts from; ``retain``: one that never saw the forget data). A scenario fills it from its
    own anchors (``scenarios.selection_refs``)."""

    setting: str
    anchor: Literal["target", "retain"]
    metric_setting: str
    part: Literal["value", "interval"] = "value"


@dataclass(frozen=True)
class SelectionRule:
    """A named rule: ``select(curve, **settings)`` returns the chosen checkpoint or None, with a reason.

    ``picks_first(settings)`` says whether, with these settings, the rule chooses "the first checkpoint
    that ...": its choice can then never move to a later checkpoint, so training may stop as soon as it
    chooses one (``--curve.stop-when-selected``); a rule that takes the best of all checkpoints cannot.
    ``reads(settings)`` names the metrics it reads, so a run can make sure its curve computes them;
    ``references`` the settings that hold a reference model's number."""

    name: str
    description: str
    select: Callable[..., Selection]
    settings: type[PartSettings]
    picks_first: Callable[[PartSettings], bool] = dataclass_field(default=lambda settings: False)
    reads: Callable[[PartSettings], list[str]] = dataclass_field(default=lambda settings: [])
    references: tuple[Reference, ...] = ()


def _problem(rule: SelectionRule) -> str | None:
    """A name is registered once; the function's keyword parameters (after the curve) are the settings'
    fields, with their defaults."""
    if rule.name in _RULES.parts():
        return f"selection rule '{rule.name}' is already registered"
    parameters = list(inspect.signature(rule.select).parameters.values())[1:]
    given = {p.name: p.default for p in parameters}
    fields = {name: field.default for name, field in rule.settings.model_fields.items()}
    if given != fields:
        return f"selection rule '{rule.name}': its function's parameters {given} differ from its settings {fields}"
    return None


_RULES: Registry[SelectionRule] = Registry("unlearn.selection.builtin_rules", _problem)
register, unregister, registered = _RULES.add, _RULES.remove, _RULES.registered


def rules() -> dict[str, SelectionRule]:
    """Every registered rule, in registration order."""
    return dict(_RULES.parts())


def registered_name(given) -> str | None:
    """The registered name of the rule ``given`` names in any case (``MUSE`` -> ``muse``), or None: a command
    line or YAML file may spell a rule as it likes."""
    return {name.lower(): name for name in rules()}.get(str(given).lower())


def rule(name: str) -> SelectionRule:
    known = rules()
    if name not in known:
        raise UserError(f"unknown selection rule '{name}' (known: {', '.join(known)})")
    return known[name]


def select(name: str, curve: list[Checkpoint], args: dict | None = None) -> Selection:
    """Run the rule ``name`` on ``curve`` with ``args`` (``{setting: value}``, checked against its settings)."""
    return rule(name).select(curve, **rule_settings(name, args).model_dump())


def rule_settings(name: str, args: dict | None = None) -> PartSettings:
    """The settings ``args`` of rule ``name``, checked; a wrong one is refused in one line."""
    chosen = rule(name)
    try:
        return chosen.settings.model_validate(args or {})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise UserError(f"selection rule '{name}' has no setting '{where}' (its settings: "
                            f"{', '.join(chosen.settings.model_fields) or 'none'})") from None
        raise UserError(f"selection rule '{name}': {where} = {first.get('input')!r}: {first['msg']}") from None


def checked_choice(chosen: str, select_args: dict) -> tuple[str, dict[str, dict]]:
    """The rule ``chosen`` names (any case) as registered, and ``select_args`` checked as its settings
    (``{rule: {setting: value}}``, no other rule's). Raises ValueError, for the settings validators of the
    commands that take ``--select``."""
    name = registered_name(chosen)
    if name is None:
        raise ValueError(f"unknown selection rule '{chosen}' (known: {', '.join(rules())})")
    other = next((key for key in select_args if str(key).lower() != name.lower()), None)
    if other is not None:
        raise ValueError(f"settings of selection rule '{other}' given, but the rule chosen is '{name}'")
    return name, check_part_args(select_args, {name: rules()[name].settings}, f"selection rule {name}", "select_args")


def rule_metrics(name: str, args: dict | None = None) -> list[str]:
    """The metrics rule ``name`` reads with ``args``."""
    return rule(name).reads(rule_settings(name, args))


def picks_first(name: str, args: dict | None = None) -> bool:
    """Whether rule ``name`` with ``args`` chooses the first checkpoint that meets its condition."""
    return rule(name).picks_first(rule_settings(name, args))


def rule_list() -> str:
    """Every registered rule, its description and its settings with their defaults and help."""
    lines = []
    for name, entry in rules().items():
        lines.append(f"{name}: {entry.description}")
        for setting, field in entry.settings.model_fields.items():
            lines.append(f"  {setting} (default: {field.default!r}): {field.description or ''}".rstrip())
    return "\n".join(lines)
