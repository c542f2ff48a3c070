"""The selection rules that ship: each benchmark's own protocol, and the user's expression.

Every rule reads the checkpoints by step (the first is the earliest in training), refuses a metric that
no checkpoint has (``check_metrics``) and never lets a checkpoint whose needed metric is None qualify.
Ties go to the earliest checkpoint: less training away from the target, and the same answer every run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from unlearn.config import PartSettings
from unlearn.errors import UserError
from unlearn.selection import expression as expressions
from unlearn.selection.curve import Checkpoint, Selection, check_metrics, in_order, number
from unlearn.selection.registry import Reference, SelectionRule, register

MUSE_KNOWMEM_FORGET = "muse.knowmem_f"  # the MUSE suite's KnowMem on forget_qa, as unlearn compare names it
TOFU_FORGET = "forget_quality"
TOFU_UTILITY = "model_utility_tofu"
FACT_ACCURACY = "forget.fact_accuracy"


def _empty(rule: str, curve: list[Checkpoint]) -> Selection | None:
    return Selection(rule, None, "the curve has no checkpoint") if not curve else None


def _require(rule: str, setting: str, value) -> None:
    """A reference value the rule cannot guess (the retrained model's number) must be given."""
    if value is None:
        raise UserError(f"selection rule '{rule}' needs its setting '{setting}' (select_args: "
                        f"{{{rule}: {{{setting}: ...}}}})")


class MuseSettings(PartSettings):
    metric: str = Field(MUSE_KNOWMEM_FORGET, description="the forget knowledge metric (lower is less knowledge)")
    retrained: float | None = Field(None, description="the retrained model's value of the metric (required)")


def muse(curve: list[Checkpoint], metric: str = MUSE_KNOWMEM_FORGET, retrained: float | None = None) -> Selection:
    """MUSE's rule: the first checkpoint whose forget KnowMem is at or below the retrained model's. Stopping
    there, not later, is the point: further steps only cost utility once the model knows no more than one
    that never saw the data."""
    _require("muse", "retrained", retrained)
    if (empty := _empty("muse", curve)) is not None:
        return empty
    check_metrics(curve, [metric])
    for checkpoint in in_order(curve):
        value = checkpoint.value(metric)
        if value is not None and value <= retrained:
            return Selection("muse", checkpoint, f"{checkpoint.label}: {metric} {number(value)} <= the retrained "
                                                 f"model's {number(retrained)}, the first checkpoint to reach it")
    return Selection("muse", None, f"no checkpoint has {metric} at or below the retrained model's "
                                   f"{number(retrained)}{_lowest(curve, metric)}")


def _lowest(curve: list[Checkpoint], metric: str) -> str:
    values = [(c.value(metric), c) for c in in_order(curve) if c.value(metric) is not None]
    if not values:
        return f" ({metric} is not computed at any checkpoint)"
    value, checkpoint = min(values, key=lambda pair: pair[0])
    return f" (lowest: {number(value)} at {checkpoint.label})"


class UtilityFloorSettings(PartSettings):
    forget_metric: str = Field(TOFU_FORGET, description="the forget score to optimize")
    better: Literal["lower", "higher"] = Field("higher", description="which direction of the forget score is better")
    utility_metric: str = Field(TOFU_UTILITY, description="the utility metric the floor applies to")
    fraction: float = Field(0.9, gt=0, description="the floor: utility >= fraction x the target's utility")
    target_utility: float | None = Field(None, description="the target model's utility (required)")
    judge: Literal["value", "interval"] = Field(
        "value", description="value: the utility itself must reach the floor (the TOFU papers); interval: only a "
                             "checkpoint whose utility interval lies wholly below the floor is out (a utility too "
                             "noisy for its value to decide)")


def utility_floor(curve: list[Checkpoint], forget_metric: str = TOFU_FORGET,
                  better: Literal["lower", "higher"] = "higher", utility_metric: str = TOFU_UTILITY,
                  fraction: float = 0.9, target_utility: float | None = None,
                  judge: Literal["value", "interval"] = "value") -> Selection:
    """The TOFU papers' report: the best forget score among checkpoints that keep utility >= ``fraction``
    times the target's. A checkpoint with either metric None does not qualify; equal forget scores go to
    the earliest checkpoint. With ``judge="interval"`` a checkpoint keeps utility unless the high end of its
    utility's interval (its value when it has none) is below the floor: where the utility is measured on
    too few questions to rank checkpoints, only a loss shown beyond the noise excludes one."""
    _require("utility-floor", "target_utility", target_utility)
    if (empty := _empty("utility-floor", curve)) is not None:
        return empty
    check_metrics(curve, [forget_metric, utility_metric])
    floor = fraction * target_utility
    kept = [c for c in in_order(curve) if c.value(forget_metric) is not None
            and c.value(utility_metric) is not None and _utility_high(c, utility_metric, judge) >= floor]
    what = f"{utility_metric} >= {number(floor)}" if judge == "value" else \
        f"{utility_metric}'s interval reaching {number(floor)}"
    if not kept:
        return Selection("utility-floor", None, f"no checkpoint with {forget_metric} computed keeps {utility_metric} "
                                                f">= {fraction:g} x {number(target_utility)} = {number(floor)}"
                                                + ("" if judge == "value" else " within its interval"))
    sign = 1 if better == "lower" else -1
    best = min(kept, key=lambda c: sign * c.value(forget_metric))  # min keeps the first of equal values
    return Selection("utility-floor", best, f"{best.label}: the {better} {forget_metric} "
                                            f"({number(best.value(forget_metric))}) of the {len(kept)} checkpoints "
                                            f"with {what}")


def _utility_high(checkpoint: Checkpoint, metric: str, judge: str) -> float:
    """What the floor is compared with: the value, or with ``judge="interval"`` its interval's high end."""
    interval = checkpoint.intervals.get(metric) if judge == "interval" else None
    return interval[1] if interval is not None else checkpoint.value(metric)


class ReachRetainSettings(PartSettings):
    metric: str = Field(FACT_ACCURACY, description="the forget score compared with the retain model's")
    retain_value: float | None = Field(None, description="the retain model's value of the metric (required)")
    retain_interval: list[float] | None = Field(None, description="the retain model's interval [low, high] of the "
                                                                  "metric (required)")

    @field_validator("retain_interval")
    @classmethod
    def _two_ends(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (len(value) != 2 or value[0] > value[1]):
            raise ValueError("give two numbers, low <= high")
        return value


def reach_retain(curve: list[Checkpoint], metric: str = FACT_ACCURACY, retain_value: float | None = None,
                 retain_interval: list[float] | None = None) -> Selection:
    """The first checkpoint whose forget score lies within the retain model's interval: from there on the
    model is indistinguishable, on this metric, from one that never saw the forget data. A curve that jumps
    over the interval (forgets more than the retain model ever knew) has no such checkpoint: the reason
    names the closest."""
    _require("reach-retain", "retain_value", retain_value)
    _require("reach-retain", "retain_interval", retain_interval)
    low, high = ReachRetainSettings(retain_interval=retain_interval).retain_interval
    if not low <= retain_value <= high:
        raise UserError(f"selection rule 'reach-retain': the retain value {number(retain_value)} is outside "
                        f"its interval [{number(low)}, {number(high)}]")
    if (empty := _empty("reach-retain", curve)) is not None:
        return empty
    check_metrics(curve, [metric])
    span = f"the retain model's interval [{number(low)}, {number(high)}] (value {number(retain_value)})"
    computed = [c for c in in_order(curve) if c.value(metric) is not None]
    for checkpoint in computed:
        if low <= checkpoint.value(metric) <= high:
            return Selection("reach-retain", checkpoint, f"{checkpoint.label}: {metric} "
                                                         f"{number(checkpoint.value(metric))} is within {span}, "
                                                         "the first checkpoint to reach it")
    if not computed:
        return Selection("reach-retain", None, f"{metric} is not computed at any checkpoint")
    closest = min(computed, key=lambda c: abs(c.value(metric) - retain_value))
    return Selection("reach-retain", None, f"no checkpoint has {metric} within {span}; closest: "
                                           f"{number(closest.value(metric))} at {closest.label}")


class ExpressionSettings(PartSettings):
    expression: str | None = Field(None, description="a condition or an objective over flat metric names (required)")
    goal: Literal["first", "maximize", "minimize"] = Field(
        "first", description="first: the first checkpoint where the condition holds; maximize/minimize: the "
                             "checkpoint with the best value of the objective")


def expression(curve: list[Checkpoint], expression: str | None = None,
               goal: Literal["first", "maximize", "minimize"] = "first") -> Selection:
    """The user's rule. A condition (``forget.fact_accuracy < 0.1 and model_utility_tofu > 0.3``) with goal
    ``first`` picks the first checkpoint where it holds; an objective (``model_utility_tofu -
    forget.fact_accuracy``) with goal ``maximize`` or ``minimize`` picks the best value, the earliest on
    ties. A metric no checkpoint has is an error; a metric None at a checkpoint, or a division by zero
    there, makes the condition not hold (and the objective not computed) at that checkpoint."""
    _require("expression", "expression", expression)
    parsed = expressions.parse(expression)
    if parsed.condition != (goal == "first"):
        raise UserError(f"selection expression '{expression}' is " + (
            "a condition; use goal 'first' (or give a number to maximize or minimize)" if parsed.condition else
            f"a number, not a condition; set goal to maximize or minimize (it is '{goal}')"))
    if (empty := _empty("expression", curve)) is not None:
        return empty
    check_metrics(curve, parsed.names)
    ordered = in_order(curve)
    if goal == "first":
        for checkpoint in ordered:
            if parsed.evaluate(checkpoint.metrics) is True:
                return Selection("expression", checkpoint, f"{checkpoint.label}: the first checkpoint where "
                                                           f"'{expression}' holds")
        return Selection("expression", None, f"'{expression}' holds at none of the {len(curve)} checkpoints")
    scored = [(float(value), c) for c in ordered if (value := parsed.evaluate(c.metrics)) is not None]
    if not scored:
        return Selection("expression", None, f"'{expression}' is not computed at any checkpoint")
    sign = -1 if goal == "maximize" else 1
    value, best = min(scored, key=lambda pair: sign * pair[0])
    extreme = "highest" if goal == "maximize" else "lowest"
    return Selection("expression", best, f"{best.label}: '{expression}' = {number(value)}, the {extreme} of "
                                         f"{len(scored)} checkpoints")


for shipped in (
    SelectionRule("muse", "MUSE: the first checkpoint whose forget KnowMem is at or below the retrained model's",
                  muse, MuseSettings, picks_first=lambda settings: True, reads=lambda settings: [settings.metric],
                  references=(Reference("retrained", "retain", "metric"),)),
    SelectionRule("utility-floor", "TOFU papers: the best forget score among checkpoints whose utility is at least "
                                   "a fraction of the target's", utility_floor, UtilityFloorSettings,
                  reads=lambda settings: [settings.forget_metric, settings.utility_metric],
                  references=(Reference("target_utility", "target", "utility_metric"),)),
    SelectionRule("reach-retain", "the first checkpoint whose forget score lies within the retain model's interval",
                  reach_retain, ReachRetainSettings, picks_first=lambda settings: True,
                  reads=lambda settings: [settings.metric],
                  references=(Reference("retain_value", "retain", "metric"),
                              Reference("retain_interval", "retain", "metric", "interval"))),
    SelectionRule("expression", "a condition (the first checkpoint where it holds) or an objective (maximized or "
                                "minimized) over flat metric names", expression, ExpressionSettings,
                  picks_first=lambda settings: settings.goal == "first",
                  reads=lambda settings: sorted(expressions.parse(settings.expression).names) if settings.expression
                  else []),
):
    register(shipped)
