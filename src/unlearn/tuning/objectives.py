"""What a tuning study optimizes: named flat metrics with a direction, read from an evaluation summary.

A metric is named as ``unlearn compare`` names it: a model-level number bare (``model_utility_tofu``), a
split's average as ``SPLIT.METRIC`` (``forget.fact_accuracy``), a suite's number as ``SUITE.NAME``
(``muse.knowmem_f``). ``NAME:minimize`` / ``NAME:maximize`` gives the direction; a registered metric may
leave it out (its declared better direction is taken), a suite's number may not (the metric registry does
not know which way it points).

By convention the first objective is the forget score and the second the utility score: the default
selection rule and the pruning rule read them in that order.

Light (the metric registry only): the settings check objectives before anything loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from unlearn.errors import UserError
from unlearn.selection.curve import metric_key

Direction = Literal["minimize", "maximize"]
SHORT = {"min": "minimize", "minimize": "minimize", "max": "maximize", "maximize": "maximize"}
OBJECTIVES_ATTR = "objectives"  # a trial's user attribute: each objective's value and interval

# Default (forget score, utility score) pairs, the first the target's evaluation computes wins: the fact
# accuracy where records carry facts (templated answers reach high ROUGE with the fact still wrong), each
# suite's own forget and utility numbers (its registered ``headline``), then ROUGE on the forget and retain
# splits.
FACT_PAIR = ("forget.fact_accuracy:minimize", "model_utility_tofu:maximize")
ROUGE_PAIRS = (("forget.rougeL_recall:minimize", "model_utility_tofu:maximize"),
               ("forget.rougeL_recall:minimize", "retain.rougeL_recall:maximize"))


@dataclass(frozen=True)
class Objective:
    """A flat metric name and the direction in which a trial is better."""

    name: str
    direction: Direction

    @property
    def text(self) -> str:
        return f"{self.name}:{self.direction}"


def parse_objective(text: str) -> Objective:
    """``forget.fact_accuracy:minimize`` -> Objective; a registered metric may omit the direction."""
    name, _, given = str(text).strip().rpartition(":") if ":" in str(text) else (str(text).strip(), "", "")
    name = metric_key(name)
    if not name or name.startswith(".") or name.endswith("."):
        raise UserError(f"objective '{text}': name a metric (forget.fact_accuracy, model_utility_tofu, "
                        "muse.knowmem_f, ...), optionally with :minimize or :maximize")
    if given:
        if given.lower() not in SHORT:
            raise UserError(f"objective '{text}': the direction is minimize or maximize, not '{given}'")
        return Objective(name, SHORT[given.lower()])
    return Objective(name, registered_direction(name, text))


def registered_direction(name: str, text: str) -> Direction:
    """The better direction the metric registry declares for ``name`` (its role read from the prefix)."""
    from unlearn.evaluation.metric_registry import find_metric

    group, _, metric = name.rpartition(".")
    found = find_metric(metric)
    arrow = found.better(group or "overall") if found is not None else None
    if arrow not in ("↑", "↓"):
        why = "it is not a registered metric" if found is None else f"its best value is a target ({arrow})"
        raise UserError(f"objective '{text}': give its direction, {name}:minimize or {name}:maximize ({why})")
    return "maximize" if arrow == "↑" else "minimize"


def parse_objectives(texts: list[str]) -> list[Objective]:
    """Each objective parsed; a metric named twice is refused."""
    objectives = [parse_objective(text) for text in texts]
    names = [o.name for o in objectives]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:
        raise UserError(f"objective '{twice}' is named twice")
    return objectives


def read_objective(summary: dict, objective: Objective) -> tuple[float, list | None]:
    """The objective's value and interval in an evaluation summary. A value that was not computed is an
    error naming the evaluation's reason, never a 0: a trial without it cannot be placed on the front."""
    from unlearn.evaluation.flat_metrics import flat_metrics

    metrics, intervals = flat_metrics(summary)
    value, interval = metrics.get(objective.name), intervals.get(objective.name)
    if value is None or not math.isfinite(value):
        reason = (summary.get("not_computed") or {}).get(objective.name)
        raise MetricMissing(f"{objective.name} was not computed" + (f": {reason}" if reason else
                                                                     " (the evaluation has no such number)"))
    return float(value), list(interval) if interval else None


def stored_interval(trial, name: str) -> list | None:
    """The interval a finished trial stored for objective ``name`` in its user attribute ``OBJECTIVES_ATTR``
    (``trial.py`` writes it: ``{name: {"value": v, "interval": [low, high] | null}}``), or None."""
    return ((trial.user_attrs.get(OBJECTIVES_ATTR) or {}).get(name) or {}).get("interval")


class MetricMissing(Exception):
    """An objective the evaluation did not compute; its trial fails with this reason."""


def default_objectives(target_summary: dict) -> list[Objective]:
    """The first default (forget, utility) pair that the target's evaluation computed."""
    from unlearn.evaluation.flat_metrics import flat_metrics

    computed = {name for name, value in flat_metrics(target_summary)[0].items()
                if value is not None and math.isfinite(value)}
    pairs = [FACT_PAIR, *suite_pairs(target_summary), *ROUGE_PAIRS]
    for pair in pairs:
        objectives = [parse_objective(text) for text in pair]
        if all(o.name in computed for o in objectives):
            return objectives
    raise UserError("no default forget and utility score is computed on this evaluation data (tried "
                    f"{', '.join(sorted({p.split(':')[0] for pair in pairs for p in pair}))}); name them "
                    "with --objectives NAME:minimize NAME:maximize")


def suite_pairs(summary: dict) -> list[tuple[str, str]]:
    """Each evaluated suite's forget and utility score (``Suite.headline``), in the registry's order."""
    from unlearn.benchmarks.registry import suites

    pairs = []
    for spec in suites().values():
        entry = summary.get(spec.suite.summary_key)
        found = spec.suite.headline(entry) if entry and spec.suite.headline else None
        if found:
            pairs.append((f"{found[0]}:minimize", f"{found[1]}:maximize"))
    return pairs
