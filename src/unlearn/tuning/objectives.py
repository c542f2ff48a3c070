"""What a tuning study optimizes: named flat metrics with a direction, read from an evaluation summary.

A metric is named as ``unlearn compare`` names it: a model-level number bare (``model_utility_tofu``), a
split's average as ``SPLIT.METRIC`` (``forget.fact_accuracy``), a suite's number as ``SUITE.NAME``
(``muse.knowmem_f``). ``NAME:minimize`` / ``NAME:maximize`` gives the direction; ``NAME:toward=VALUE``
asks for the trial nearest a value: the study minimizes the distance |value - VALUE|. That is the aim of a
metric whose best value lies between its extremes, such as MUSE's PrivLeak (0: the forget set looks as it
does to a model that never saw it; below, under-unlearned; above, over-unlearned), where minimizing would
reward over-unlearning. A registered metric may leave the direction out (its declared better direction,
or the value it declares best, is taken); a suite's number may not (the metric registry does not know
which way it points).

Every number the study keeps for a toward objective (trial values, intervals, the target's, what a
selection rule compares) is the distance; the trial also stores the measured value.

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
TOWARD = "toward="
OBJECTIVES_ATTR = "objectives"  # a trial's user attribute: each objective's value and interval
PER_SEED_ATTR = "per_seed"  # with several trial seeds: each seed's, OBJECTIVES_ATTR holding the worst seed's

# Default (forget score, utility score) pairs, the first the target's evaluation computes wins: the fact
# accuracy where records carry facts (templated answers reach high ROUGE with the fact still wrong), each
# suite's own forget and utility numbers (its registered ``headline``), then ROUGE on the forget and retain
# splits.
FACT_PAIR = ("forget.fact_accuracy:minimize", "model_utility_tofu:maximize")
ROUGE_PAIRS = (("forget.rougeL_recall:minimize", "model_utility_tofu:maximize"),
               ("forget.rougeL_recall:minimize", "retain.rougeL_recall:maximize"))


@dataclass(frozen=True)
class Objective:
    """A flat metric name and the direction in which a trial is better; with ``toward``, the value a trial
    should be near (the study minimizes the distance to it)."""

    name: str
    direction: Direction
    toward: float | None = None

    @property
    def text(self) -> str:
        return f"{self.name}:{TOWARD}{self.toward:g}" if self.toward is not None else f"{self.name}:{self.direction}"

    @property
    def label(self) -> str:
        """What the study's number for this objective is, for a table or an axis."""
        return f"|{self.name} - {self.toward:g}|" if self.toward is not None else self.name

    def score(self, value: float, interval: list | None) -> tuple[float, list | None]:
        """The study's number for a measured ``value`` (and its interval): itself, or its distance to ``toward``."""
        if self.toward is None:
            return value, interval
        return distance(value, self.toward), distance_interval(interval, self.toward)


def distance(value: float, toward: float) -> float:
    """d = |value - toward|."""
    return abs(value - toward)


def distance_interval(interval: list | None, toward: float) -> list | None:
    """The distance's interval from the value's [l, h]: [0, max(|l - t|, |h - t|)] when t lies inside it, else
    [min, max] of the two ends' distances (the distance is monotone on either side of t)."""
    if interval is None:
        return None
    low, high = distance(interval[0], toward), distance(interval[1], toward)
    if interval[0] <= toward <= interval[1]:
        return [0.0, max(low, high)]
    return [min(low, high), max(low, high)]


def parse_objective(text: str) -> Objective:
    """``forget.fact_accuracy:minimize`` or ``muse.privleak:toward=0`` -> Objective; a registered metric may
    omit the direction."""
    name, _, given = str(text).strip().rpartition(":") if ":" in str(text) else (str(text).strip(), "", "")
    name = metric_key(name)
    if not name or name.startswith(".") or name.endswith("."):
        raise UserError(f"objective '{text}': name a metric (forget.fact_accuracy, model_utility_tofu, "
                        "muse.knowmem_f, ...), optionally with :minimize, :maximize or :toward=VALUE")
    if given.lower().startswith(TOWARD):
        return Objective(name, "minimize", toward_value(given[len(TOWARD):], text))
    if given:
        if given.lower() not in SHORT:
            raise UserError(f"objective '{text}': the direction is minimize, maximize or toward=VALUE, not '{given}'")
        return Objective(name, SHORT[given.lower()])
    return registered_objective(name, text)


def toward_value(given: str, text: str) -> float:
    try:
        value = float(given)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UserError(f"objective '{text}': toward= takes a finite number (toward=0), not '{given}'")
    return value


def registered_objective(name: str, text: str) -> Objective:
    """The better direction the metric registry declares for ``name`` (its role read from the prefix), or the
    best value it declares (``→0``: toward 0)."""
    from unlearn.evaluation.metric_registry import find_metric

    group, _, metric = name.rpartition(".")
    found = find_metric(metric)
    arrow = found.better(group or "overall") if found is not None else None
    if arrow in ("↑", "↓"):
        return Objective(name, "maximize" if arrow == "↑" else "minimize")
    if arrow is not None and arrow.startswith("→"):
        return Objective(name, "minimize", toward_value(arrow[1:], text))
    why = "it is not a registered metric" if found is None else f"its registry direction is '{arrow}'"
    raise UserError(f"objective '{text}': give its direction, {name}:minimize, {name}:maximize or "
                    f"{name}:toward=VALUE ({why})")


def parse_objectives(texts: list[str]) -> list[Objective]:
    """Each objective parsed; a metric named twice is refused."""
    objectives = [parse_objective(text) for text in texts]
    names = [o.name for o in objectives]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:
        raise UserError(f"objective '{twice}' is named twice")
    return objectives


def read_objective(summary: dict, objective: Objective) -> tuple[float, list | None]:
    """The objective's measured value and interval in an evaluation summary (``Objective.score`` makes them
    the study's numbers). A value that was not computed is an error naming the evaluation's reason, never a 0:
    a trial without it cannot be placed on the front."""
    from unlearn.evaluation.flat_metrics import flat_metrics

    metrics, intervals = flat_metrics(summary)
    value, interval = metrics.get(objective.name), intervals.get(objective.name)
    if value is None or not math.isfinite(value):
        reason = (summary.get("not_computed") or {}).get(objective.name)
        raise MetricMissing(f"{objective.name} was not computed" + (f": {reason}" if reason else
                                                                     " (the evaluation has no such number)"))
    return float(value), list(interval) if interval else None


def trial_entry(objective: Objective, value: float, interval: list | None) -> dict:
    """What a trial stores for ``objective`` measured at ``value`` / ``interval``: the study's number and its
    interval, and for a toward objective the measured ones beside them."""
    score, score_interval = objective.score(value, interval)
    entry = {"value": score, "interval": score_interval}
    if objective.toward is not None:
        entry.update(measured=value, measured_interval=interval)
    return entry


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
