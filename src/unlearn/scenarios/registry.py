"""The scenarios ``unlearn run`` runs: one registration each, read by everything downstream.

A scenario is a ``Scenario`` record: its name (what an experiment's ``scenario:`` takes), a one-line
description, its own settings (a ``PartSettings`` class, reached in YAML as ``scenario_args: {protocol:
scalability}``), its default forget and retain splits, the report's first paragraph, whether the
experiment's ``attacks`` section runs on it, the registered benchmark its built-in data comes from and
the registered suites its evaluations run (``benchmarks/registry.py``), and its ``run(settings, steps) ->
manifest part`` function. The runner, the experiment's checks, the report and ``unlearn run
--list-scenarios`` read this registry; none of them tests a scenario's name, and no scenario tests a
benchmark's.

Adding a scenario is one module with its ``run`` function (built from the steps of ``scenarios/common.py``)
and one ``register`` call. ``run`` may be given as ``"module:function"``, imported when the scenario
runs, so that this module, the experiment's settings and ``--list-scenarios`` import no model library.
The scenarios that ship are registered in ``builtin_scenarios.py``, loaded before the first lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unlearn.config import PartSettings
from unlearn.registry import Registry

if TYPE_CHECKING:
    from unlearn.scenarios.experiment import ExperimentSettings
    from unlearn.scenarios.steps import Steps

# the report's first paragraph for a scenario that gives none (or a run folder of one no longer registered)
DEFAULT_INTRO = ("Model {model}, data {data}. Arrows say which direction is better; n/c = not computed (reasons at "
                 "the end).")


@dataclass(frozen=True)
class Scenario:
    """One scenario. ``forget`` and ``retain`` are the splits used where the experiment names none;
    None for both means the scenario names its own splits, and an experiment that sets them is
    refused. ``intro`` is formatted with the experiment's settings (``{model}``, ``{data}``,
    ``{forget}``, ...). ``benchmark`` names the registered benchmark whose generator writes its data
    for ``data: builtin`` (``scenarios/common.builtin_benchmark``); ``suites`` the registered suites its
    evaluation steps run beside those of the experiment's ``eval`` section (``suites``), which the
    experiment's checks add when they validate that section, so that its ``suite_args`` may set them.
    ``reference_models`` names the anchor models its forget steps hand to a selection rule (``target``,
    ``retain``; ``selection_refs.py``): a rule comparing with one it lacks is refused by the experiment's
    check unless the user gives the value."""

    name: str
    description: str
    run: str | Callable[[ExperimentSettings, Steps], dict]
    settings: type[PartSettings] | None = None
    forget: str | None = "forget10"
    retain: str | None = "retain90"
    intro: str = DEFAULT_INTRO
    attacks: bool = False
    benchmark: str | None = None
    suites: tuple[str, ...] = ()
    reference_models: tuple[str, ...] = ()

    def __post_init__(self):
        if (self.forget is None) != (self.retain is None):
            raise ValueError(f"scenario {self.name}: give both default splits (forget and retain) or neither")
        if isinstance(self.suites, str):
            raise ValueError(f"scenario {self.name}: suites is a tuple of suite names, got '{self.suites}'")
        if isinstance(self.run, str) and ":" not in self.run:
            raise ValueError(f"scenario {self.name}: run is a function or 'module:function', got '{self.run}'")

    def runner(self) -> Callable[[ExperimentSettings, Steps], dict]:
        """The run function, imported now if it was given by name."""
        if callable(self.run):
            return self.run
        module, _, function = self.run.partition(":")
        return getattr(importlib.import_module(module), function)

    def args(self, given: dict | None) -> PartSettings | None:
        """Its settings from ``given`` (its defaults where none are given); None without a settings class."""
        return self.settings.model_validate(given or {}) if self.settings else None

    def check_args(self, given: dict) -> dict:
        """``given`` validated as this scenario's settings: the values as given, JSON-ready. A setting of
        another scenario, or of none, is refused with one line (ValueError)."""
        known = self.settings.model_fields if self.settings else {}
        for key in given:
            if key not in known:
                owners = [s.name for s in scenarios() if s.settings and key in s.settings.model_fields]
                whose = f"a setting of scenario {' and '.join(owners)}, not" if owners else "not a setting of"
                accepted = f"its settings: {', '.join(known)}" if known else "it has no settings of its own"
                raise ValueError(f"scenario_args: '{key}' is {whose} scenario {self.name} ({accepted})")
        if not self.settings:
            return {}
        from pydantic import ValidationError

        try:
            return self.settings.model_validate(given).model_dump(mode="json", exclude_unset=True)
        except ValidationError as error:
            first = error.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"scenario_args.{name} = {first.get('input')!r}: {first['msg']}") from None


def _problem(scenario: Scenario) -> str | None:
    taken = scenario.name in _SCENARIOS.parts()
    return f"a scenario named '{scenario.name}' is already registered" if taken else None


_SCENARIOS: Registry[Scenario] = Registry("unlearn.scenarios.builtin_scenarios", _problem)
register, unregister, registered = _SCENARIOS.add, _SCENARIOS.remove, _SCENARIOS.registered


def scenarios() -> tuple[Scenario, ...]:
    """Every registered scenario, in registration order."""
    return tuple(_SCENARIOS.parts().values())


def find_scenario(name: str) -> Scenario:
    """The scenario named ``name``; ValueError naming the registered ones if there is none."""
    parts = _SCENARIOS.parts()
    if name not in parts:
        raise ValueError(f"unknown scenario '{name}' (registered: {', '.join(parts)}; see unlearn run "
                         "--list-scenarios)")
    return parts[name]


def report_intro(name: str | None, settings: dict[str, Any]) -> str:
    """The report's first paragraph for a run of scenario ``name`` with the manifest's ``settings``."""
    scenario = _SCENARIOS.parts().get(name or "")
    template = scenario.intro if scenario else DEFAULT_INTRO
    return template.format_map(_Missing(settings))


class _Missing(dict):
    """Settings for ``str.format_map``: a setting an older manifest lacks reads as 'n/a'."""

    def __missing__(self, key: str) -> str:
        return "n/a"


def scenario_list() -> str:
    """Every registered scenario, its default splits and its settings, for ``unlearn run --list-scenarios``."""
    lines = []
    for scenario in scenarios():
        lines.append(f"{scenario.name:<12} {scenario.description}")
        splits = (f"forget {scenario.forget}, retain {scenario.retain}" if scenario.forget
                  else "its own (forget and retain do not apply)")
        lines.append(f"{'':<12} default splits: {splits}; attacks: {'yes' if scenario.attacks else 'no'}")
        parts = ([f"data builtin: as unlearn data {scenario.benchmark}"] if scenario.benchmark else []) \
            + ([f"evaluated with --suites {','.join(scenario.suites)}"] if scenario.suites else [])
        if parts:
            lines.append(f"{'':<12} {'; '.join(parts)}")
        for name, field in (scenario.settings.model_fields.items() if scenario.settings else ()):
            lines.append(f"{'':<12} scenario_args.{name} (default {field.default}): {field.description}")
    return "\n".join(lines)
