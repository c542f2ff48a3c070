"""Paired comparison of two evaluations on the same questions: a difference and its interval.

Two models answer the same questions, so their per-question values are paired: resampling the
questions once for both removes the spread that is common to them (some questions are hard for
every model), and the interval of the difference is much narrower than the two intervals side
by side suggest.
"""

from __future__ import annotations

import numpy as np

from unlearn.evaluation.evaluator import metric_columns
from unlearn.evaluation.splits import EvalSplit
from unlearn.evaluation.summary import DERIVED, roles_read, value_from_columns
from unlearn.metrics.uncertainty import bootstrap_interval


def split_columns(splits: dict[str, list[dict]]) -> dict[str, dict[str, np.ndarray]]:
    """Per-example metric columns of an evaluation, from its per-split example rows."""
    return {role: metric_columns(EvalSplit(role, role, []), examples) for role, examples in splits.items()}


def pairable(group: str, name: str) -> bool:
    """Whether a number has a paired comparison: a split average, or a model-level number computed
    from split averages (utility, forget efficacy). Forget quality, MIA AUCs and PrivLeak compare
    whole distributions with another model's, so they have none."""
    return group != "overall" or name in DERIVED


def paired_difference(a: dict[str, list[dict]], b: dict[str, list[dict]], group: str, name: str,
                      options: dict) -> tuple[float, list[float] | None] | None:
    """``value(a) - value(b)`` for a split average (``group`` = its role) or a model-level number
    computed from split averages, with a paired bootstrap interval; None when the number is not
    ``pairable``, either lacks the splits, the questions differ, or the value is not computed."""
    if not pairable(group, name):
        return None
    roles = roles_read(group, name)
    if any(role not in a or role not in b for role in roles):
        return None
    if any([e["question"] for e in a[role]] != [e["question"] for e in b[role]] for role in roles):
        return None
    columns_a, columns_b = split_columns({r: a[r] for r in roles}), split_columns({r: b[r] for r in roles})
    difference = value_from_columns(columns_a, group, name) - value_from_columns(columns_b, group, name)
    if not np.isfinite(difference):
        return None

    def statistic(*indices):
        picked = {role: i.astype(int) for role, i in zip(roles, indices)}
        return (value_from_columns(columns_a, group, name, picked)
                - value_from_columns(columns_b, group, name, picked))

    found = bootstrap_interval([np.arange(len(a[role])) for role in roles], statistic, **options)
    return float(difference), list(found) if found else None
