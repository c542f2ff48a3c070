"""An evaluation's numbers under the flat names ``unlearn compare`` and ``summary.csv`` use.

A model-level number is bare (``model_utility_tofu``), a split's average is ``SPLIT.METRIC``
(``forget.fact_accuracy``) and a suite's number is what its registration's ``values`` names it
(``muse.knowmem_f``). The curve of a training run and a selection rule read these names, so a rule
written against ``summary.csv`` works on the curve unchanged.
"""

from __future__ import annotations

from unlearn.benchmarks.registry import suites


def flat_metrics(summary: dict) -> tuple[dict[str, float | None], dict[str, tuple[float, float]]]:
    """``(metrics, intervals)`` of a summary (``summary.json``'s shape: ``overall``, ``overall_intervals``,
    ``splits`` and the suites' entries). A number not computed stays None; only numbers that have an
    interval appear in ``intervals``."""
    metrics: dict[str, float | None] = dict(summary.get("overall") or {})
    intervals = _pairs(summary.get("overall_intervals"), "")
    for role, split in (summary.get("splits") or {}).items():
        metrics.update({f"{role}.{name}": value for name, value in split.get("metrics", {}).items()})
        intervals.update(_pairs(split.get("intervals"), f"{role}."))
    for spec in suites().values():
        entry = summary.get(spec.suite.summary_key)
        for name, (value, interval) in (spec.suite.values(entry) if entry else {}).items():
            metrics[name] = value
            intervals.update(_pairs({name: interval}, ""))
    return metrics, intervals


def _pairs(intervals: dict | None, prefix: str) -> dict[str, tuple[float, float]]:
    return {f"{prefix}{name}": (float(pair[0]), float(pair[1])) for name, pair in (intervals or {}).items()
            if isinstance(pair, (list, tuple)) and len(pair) == 2 and None not in pair}
