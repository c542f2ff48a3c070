"""The metric registry: each metric is declared once, and everything that shows it reads the declaration.

A split metric is the mean over a split's examples of one per-example term. It declares its name,
label, the direction that is better, what it needs from the fused evaluation pass
(``evaluator.evaluate_many``: one scoring pass, one generation pass, one embedder and one NLI
call), the function from an example's values to its term, the reason shown when no example
counts, and where reports show it. The evaluator's columns and averages, the eval table, the
reports, the leaderboard and ``unlearn eval --list-metrics`` all read it, so a new metric is one
``register_metric`` call. Model-level numbers (utility, forget quality, membership AUCs,
PrivLeak) are computed by ``summary`` and declared here for their labels and directions.

Light on purpose (no torch, no numpy): listing metrics and printing tables stay fast.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable
from dataclasses import dataclass

from unlearn.evaluation.splits import Role
from unlearn.registry import Registry

# What the fused pass provides; a metric names those its value reads. An unavailable model is
# reported under its need, so every metric that needs it says why it is not computed.
NEEDS = {
    "likelihood": "the answer's teacher-forced scores (one scoring pass); an example whose log-probabilities are "
                  "not finite does not count",
    "perturbed": "the record's paraphrased and perturbed answers, scored in the same pass",
    "generation": "the greedy answer to the question (one batched generation pass)",
    "fact": "the record's 'fact' field",
    "embedder": "the sentence embedder (one batched call over every generation)",
    "nli": "the NLI model (one batched call over every generation)",
}
HIGHER, LOWER = "↑", "↓"
ROLES: tuple[str, ...] = typing.get_args(Role)
REPORT_PLACES = ("headline", "plotted", "paired")


@dataclass(frozen=True)
class SplitMetric:
    """One split average. ``value(example_values, split)`` is an example's term (nan where it does not
    count); the split's metric is the mean of the finite terms, with an interval if ``interval``."""

    name: str
    label: str
    description: str
    needs: tuple[str, ...]
    value: Callable[[dict, object], float]
    missing: str = "no valid example"  # shown when no example counts and no needed model is missing
    interval: bool = True
    forget_direction: str = LOWER  # on the forget split less knowledge is better
    direction: str = HIGHER  # on the other splits
    fact_based: bool = False  # judged on the record's fact, not its wording: heads the report's columns
    headline: tuple[str, ...] = ()  # splits where the report's results table and the leaderboard show it
    plotted: tuple[str, ...] = ()  # splits where the report draws a bar plot of it
    paired: tuple[str, ...] = ()  # splits where the report compares models on it, paired on the questions
    continual: bool = False  # a column (and a curve) of the continual scenario, per forget request

    def better(self, role: str) -> str:
        return self.forget_direction if role == "forget" else self.direction

    def term(self, values: dict, split) -> float:
        """The example's term; nan where a needed likelihood is not finite."""
        if "likelihood" in self.needs and not values["likelihood_valid"]:
            return math.nan
        return self.value(values, split)


@dataclass(frozen=True)
class ModelMetric:
    """A model-level number of ``summary``: how to label it and which direction is better."""

    name: str
    label: str
    description: str
    direction: str = HIGHER

    def better(self, role: str = "overall") -> str:
        return self.direction


def _refused(metric: SplitMetric | ModelMetric) -> str | None:
    problem = _problem(metric)
    return f"metric '{metric.name}': {problem}" if problem else None


_METRICS: Registry[SplitMetric | ModelMetric] = Registry("unlearn.evaluation.builtin_metrics", _refused)
# add a metric (after those registered before it; a clash or an unknown need is refused), remove it, or
# register it inside a block only
register_metric, unregister_metric, registered = _METRICS.add, _METRICS.remove, _METRICS.registered


def split_metrics() -> tuple[SplitMetric, ...]:
    """The split metrics in registration order: the order of the eval table and the split files."""
    return tuple(m for m in _METRICS.parts().values() if isinstance(m, SplitMetric))


def model_metrics() -> tuple[ModelMetric, ...]:
    return tuple(m for m in _METRICS.parts().values() if isinstance(m, ModelMetric))


def find_metric(name: str) -> SplitMetric | ModelMetric | None:
    return _METRICS.parts().get(name)


def report_columns(place: str) -> list[tuple[str, str]]:
    """``(role, metric)`` of the split metrics a report shows at ``place`` (``headline``, ``plotted``,
    ``paired``): split by split, fact-based metrics first (ROUGE and probability also reward the
    answer's wording)."""
    if place not in REPORT_PLACES:
        raise ValueError(f"unknown report place '{place}' (known: {', '.join(REPORT_PLACES)})")
    ordered = report_order()
    return [(role, m.name) for role in ROLES for m in ordered if role in getattr(m, place)]


def report_order() -> list[SplitMetric]:
    """Split metrics as reports list them: fact-based first, then in registration order."""
    return sorted(split_metrics(), key=lambda m: not m.fact_based)


def _problem(metric: SplitMetric | ModelMetric) -> str | None:
    if not metric.name.isidentifier():
        return "a name is letters, digits and underscores"
    if metric.name in _METRICS.parts():
        return "already registered"
    if isinstance(metric, ModelMetric):
        return _direction_problem(metric.direction)
    unknown = [n for n in metric.needs if n not in NEEDS]
    if unknown:
        return f"unknown need '{unknown[0]}' (known: {', '.join(NEEDS)})"
    roles = [r for place in REPORT_PLACES for r in getattr(metric, place) if r not in ROLES]
    if roles:
        return f"unknown split role '{roles[0]}' (known: {', '.join(ROLES)})"
    return _direction_problem(metric.forget_direction) or _direction_problem(metric.direction)


def _direction_problem(direction: str) -> str | None:
    """A direction is ``↑``, ``↓`` or ``→x`` (closest to the number x is best)."""
    if direction in (HIGHER, LOWER):
        return None
    target = direction[1:] if direction.startswith("→") else ""
    try:
        if math.isfinite(float(target)):
            return None
    except ValueError:
        pass
    return f"direction '{direction}' is not ↑, ↓ or →x"
