"""The search space of a tuning study: which forget settings a trial samples, and from what range.

A dimension is named as the setting it sets: a forget setting (``learning_rate``, or ``lr`` for short;
``epochs``, ``regularizer_weight``, ...) or a part's setting as its flag names it (``npo.beta``,
``rmu.steering``). It is a range ``{low: 1e-6, high: 1e-4, log: true, step: ...}`` (an integer setting
samples integers) or a list of choices ``[1, 2, 3]``. Each bound or choice is checked against the setting's
own type, so a value the setting refuses fails before the study starts.

The default space of a method:

- ``learning_rate``, log-uniform over a decade either side of the method's default rate;
- ``epochs``, whole epochs from 1 to the default number (when that is 2 or more);
- ``regularizer_weight``, log-uniform over a decade either side of its default, for a method with a
  regularizer. AdamW's update does not change when the whole loss is scaled, so only the ratio b/a of
  ``a*forget + b*regularizer`` matters: the forget weight stays fixed;
- each positive real setting of the method's own loss terms (NPO's beta, RMU's steering, SimNPO's beta,
  ...) or of its family method (TaskVector's alpha, ...), log-uniform from a quarter to four times its
  default. Integers (RMU's layer) depend on the model, choices (ME's form) are variants rather than knobs,
  and a setting whose default is 0 or none has no scale to search around: add them by name.

A setting given explicitly (a flag, the config file) is fixed and leaves the default space; naming it in
``space`` searches it anyway. ``name: null`` in ``space`` leaves a default dimension out.

Light (pydantic and the registries): the settings check the space before anything loads.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from unlearn.errors import UserError
from unlearn.families import FAMILY_METHODS
from unlearn.objectives.registry import default_weights, method_parts, parse_method

ALIASES = {"lr": "learning_rate"}
# forget settings that define the task or the machine, never sampled
FIXED = {"model", "data", "out", "method", "method_args", "forget", "retain", "refusals", "reference", "device",
         "dtype", "threads", "trust_remote_code", "allow_pickle", "report_to", "logging_steps", "save_checkpoints",
         "keep_checkpoints", "resume", "overwrite", "curve", "select", "select_args", "answer_field",
         "prompt_template", "plain_template", "mask"}
PART_SPREAD = 4.0  # a part's real setting: from default / 4 to default * 4
DECADE = 10.0  # the learning rate and the regularizer weight: a decade either side


@dataclass(frozen=True)
class Dimension:
    """One sampled setting: ``name`` as the flag spells it (``learning_rate``, ``npo.beta``); a range
    (``low``, ``high``, ``log``, ``step``; ``integer`` for an integer setting) or ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False
    choices: tuple | None = None

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name} in {list(self.choices)}"
        scale = ", log" if self.log else f", step {self.step:g}" if self.step else ""
        return f"{self.name} in [{self.low:g}, {self.high:g}]{scale}"

    def record(self) -> dict:
        """JSON-ready, for the study's stored settings and ``pareto.json``."""
        if self.choices is not None:
            return {"name": self.name, "choices": list(self.choices)}
        return {"name": self.name, "low": self.low, "high": self.high, "log": self.log, "step": self.step,
                "integer": self.integer}


def search_space(method: str, mask: str, given: set[str], space: dict, defaults: dict) -> list[Dimension]:
    """The study's dimensions: the method's defaults less the settings ``given`` explicitly (top-level
    names and ``part.setting``), then ``space``'s entries over them (``None`` removes one). ``defaults``
    holds the forget settings' values the defaults scale from (``learning_rate``, ``epochs``)."""
    settings = tunable_settings(method, mask)
    if not isinstance(space, dict):
        raise UserError("space must be a mapping of setting: {low, high[, log, step]} or [choices]")
    dims = {d.name: d for d in default_space(method, defaults) if d.name not in given}
    for key, spec in space.items():
        name = canonical(str(key), settings, method)
        if spec is None:
            dims.pop(name, None)
        else:
            dims[name] = dimension(name, spec, settings[name])
    return list(dims.values())


def fixed_defaults(method: str, mask: str, given: set[str], space: dict, defaults: dict) -> list[str]:
    """The default dimensions left out because the settings give them (a learning rate set in an
    experiment's shared ``unlearn`` section fixes it), and that ``space`` does not bring back: said to the
    user, since a search without its main knobs can look like a search that found nothing."""
    settings = tunable_settings(method, mask)
    named = {canonical(str(key), settings, method) for key in space} if isinstance(space, dict) else set()
    return [d.name for d in default_space(method, defaults) if d.name in given and d.name not in named]


def canonical(key: str, settings: dict, method: str) -> str:
    """The flag spelling of a space entry's name (``lr`` -> ``learning_rate``, ``NPO.beta`` ->
    ``npo.beta``); a name the method has no setting for is refused in one line, listing what it has."""
    name = ALIASES.get(key.strip(), key.strip())
    part, dot, setting = name.partition(".")
    name = f"{part.lower()}.{setting.replace('-', '_')}" if dot else name.replace("-", "_")
    if name not in settings:
        raise UserError(f"space: '{key}' is not a setting method {method} can tune (its settings: "
                        f"{', '.join(settings)})")
    return name


def tunable_settings(method: str, mask: str = "none") -> dict[str, Any]:
    """Every setting a space may name for ``method``, with the type its values are checked against: the
    forget settings that are not fixed and each of the method's parts' settings as ``part.setting``."""
    from unlearn.training.forget_settings import ForgetSettings

    found = {name: _field_type(field) for name, field in ForgetSettings.model_fields.items() if name not in FIXED}
    for part, model in method_parts(method, mask).items():
        found.update({f"{part.lower()}.{name}": _field_type(field) for name, field in model.model_fields.items()})
    return found


def _field_type(field) -> Any:
    """The field's annotation with its constraints (``gt=0``, ``le=1``), for a ``TypeAdapter``."""
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def dimension(name: str, spec, kind) -> Dimension:
    """A range or a list of choices for setting ``name``, each value checked against its type ``kind``."""
    if isinstance(spec, list):
        if not spec:
            raise UserError(f"space: {name} lists no choices")
        return Dimension(name, choices=tuple(_checked(name, value, kind) for value in spec))
    if not isinstance(spec, dict):
        raise UserError(f"space: {name} must be {{low, high[, log, step]}} or a list of choices, not {spec!r}")
    unknown = set(spec) - {"low", "high", "log", "step"}
    if unknown:
        raise UserError(f"space: {name} has unknown key '{sorted(unknown)[0]}' (keys: low, high, log, step)")
    if "low" not in spec or "high" not in spec:
        raise UserError(f"space: {name} needs both low and high")
    integer = _base(kind) is int
    if _base(kind) not in (int, float):
        raise UserError(f"space: {name} is not a number; give a list of its choices")
    low, high = (_checked(name, spec[key], kind) for key in ("low", "high"))
    log, step = bool(spec.get("log", False)), spec.get("step")
    if not low < high:
        raise UserError(f"space: {name} needs low < high (got {low} and {high})")
    if log and low <= 0:
        raise UserError(f"space: {name} is log-scaled, so low must be above 0 (got {low})")
    if step is not None and (log or not isinstance(step, int | float) or step <= 0):
        raise UserError(f"space: {name} step must be a positive number, and not with log")
    return Dimension(name, float(low), float(high), log, None if step is None else float(step), integer)


def _checked(name: str, value, kind):
    """``value`` validated as the setting's type; the setting's own message when refused."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as error:
        raise UserError(f"space: {name} = {value!r}: {error.errors()[0]['msg']}") from None


def _base(kind) -> type | None:
    """``int`` or ``float`` (or another plain type) under ``Annotated`` and ``X | None``; None for others."""
    while True:
        origin = typing.get_origin(kind)
        if origin is Annotated:
            kind = typing.get_args(kind)[0]
        elif origin in (typing.Union, types.UnionType):
            kinds = [a for a in typing.get_args(kind) if a is not type(None)]
            if len(kinds) != 1:
                return None
            kind = kinds[0]
        else:
            return kind if isinstance(kind, type) else None


def default_space(method: str, defaults: dict) -> list[Dimension]:
    """The method's default dimensions (module docstring), from ``defaults``' learning rate and epochs."""
    if method in FAMILY_METHODS:  # its own knobs; its training, if any, fine-tunes a helper model
        chosen = FAMILY_METHODS[method]
        return _part_dims(chosen.name, chosen.settings) if chosen.settings else []
    parsed = parse_method(method)
    rate, epochs = defaults["learning_rate"], defaults["epochs"]
    dims = [Dimension("learning_rate", rate / DECADE, rate * DECADE, log=True)]
    if epochs >= 2:
        dims.append(Dimension("epochs", 1.0, float(math.ceil(epochs)), step=1.0))
    if parsed.regularizer is not None:
        weight = default_weights(parsed)[1] if defaults.get("regularizer_weight") is None \
            else defaults["regularizer_weight"]
        if weight > 0:
            dims.append(Dimension("regularizer_weight", weight / DECADE, weight * DECADE, log=True))
    seen = set()
    for term in parsed.terms:
        if term.settings is not None and term.settings not in seen:  # RMU's settings serve both its terms
            seen.add(term.settings)
            dims += _part_dims(term.name, term.settings)
    return dims


def _part_dims(part: str, model) -> list[Dimension]:
    """A part's positive real settings, each from a quarter to four times its default, within its bounds."""
    dims = []
    for name, field in model.model_fields.items():
        default = field.default
        if _base(field.annotation) is not float or isinstance(default, bool) or not isinstance(default, int | float) \
                or not default > 0:
            continue
        low, high = default / PART_SPREAD, default * PART_SPREAD
        for limit in field.metadata:
            high = min(high, getattr(limit, "le", None) or math.inf, getattr(limit, "lt", None) or math.inf)
        dims.append(Dimension(f"{part.lower()}.{name}", low, high, log=True))
    return dims


def suggest(trial, dims: list[Dimension]) -> dict[str, Any]:
    """The trial's values, one Optuna ``suggest_*`` per dimension (a retried trial gets its fixed ones)."""
    values = {}
    for d in dims:
        if d.choices is not None:
            values[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        elif d.integer:
            values[d.name] = trial.suggest_int(d.name, int(d.low), int(d.high), step=int(d.step or 1), log=d.log)
        else:
            values[d.name] = trial.suggest_float(d.name, d.low, d.high, step=d.step, log=d.log)
    return values


def apply(values: dict, sampled: dict[str, Any], method: str, mask: str = "none") -> dict:
    """Forget settings ``values`` with the ``sampled`` ones set: top-level names directly, ``part.setting``
    into ``method_args`` under the part's registered name."""
    parts = {name.lower(): name for name in method_parts(method, mask)}
    result = dict(values)
    args = {key: dict(given) for key, given in (result.get("method_args") or {}).items()}
    for name, value in sampled.items():
        part, dot, setting = name.partition(".")
        if dot:
            key = next((k for k in args if k.lower() == part), parts[part])
            args.setdefault(key, {})[setting] = value
        else:
            result[name] = value
    if args:
        result["method_args"] = args
    return result
