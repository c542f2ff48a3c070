"""When a trial is hopeless: the pruning rule, a pure function of one point of its evaluation curve.

Optuna's pruners compare the values a trial reports with other trials' at the same step, for one
objective; a multi-objective study cannot use them. The rule here needs no other trial: a trial is
pruned at the first evaluated point where its utility has fallen below ``floor`` times the target's.
Unlearning that has collapsed a model's utility does not bring it back with more of the same training,
and such a trial could only reach the front at a utility nobody would report.

The curve is measured on a subset, so a point is judged by the high end of its utility's interval when
the point has one: a trial is pruned only when even that is below the floor, not on one unlucky subset.
The target's utility is the curve's own first point when it is the model before training (step 0, the
same subset), else the target's full evaluation.
"""

from __future__ import annotations

import math

from unlearn.selection.curve import Checkpoint, number


def prune_reason(checkpoint: Checkpoint, metric: str, target: float, floor: float) -> str | None:
    """Why the trial is hopeless at ``checkpoint`` (its ``metric`` below ``floor`` x ``target``), or None
    when it is not, or when the point did not compute the metric (no evidence is no reason)."""
    value = checkpoint.value(metric)
    if value is None or not math.isfinite(value):
        return None
    interval = checkpoint.intervals.get(metric)
    high = interval[1] if interval is not None else value
    limit = floor * target
    if high >= limit:
        return None
    shown = f"{number(value)} (interval up to {number(high)})" if interval is not None else number(value)
    return (f"{checkpoint.label}: {metric} {shown} is below {floor:g} x the target's {number(target)} = "
            f"{number(limit)}; a collapsed model does not recover")


def reference_utility(first: Checkpoint | None, metric: str, target: float) -> float:
    """The utility the floor scales: the curve's step-0 point (the target on the curve's subset) when it
    has the metric, else ``target`` (the target's full evaluation)."""
    if first is not None and first.step == 0:
        value = first.value(metric)
        if value is not None and math.isfinite(value):
            return value
    return target
