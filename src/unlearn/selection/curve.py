"""A training curve's checkpoints and what a selection rule returns.

Metrics are keyed by the flat names ``unlearn compare`` and ``summary.csv`` already use: a model-level
number bare (``model_utility_tofu``, ``forget_quality``), a split's average as ``SPLIT.METRIC``
(``forget.fact_accuracy``) and a suite's number as ``SUITE.NAME`` (``muse.knowmem_f``). The leaderboard
also reads ``overall.NAME`` as the bare ``NAME``; ``metric_key`` does the same here, so both spellings
name one metric.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from unlearn.errors import UserError


def metric_key(name: str) -> str:
    """The flat key of a metric name: ``overall.model_utility_tofu`` -> ``model_utility_tofu``."""
    name = name.strip()
    return name[len("overall."):] if name.startswith("overall.") else name


@dataclass(frozen=True)
class Checkpoint:
    """One evaluated point of a training run: its step, its epoch (fractional when evaluated every N steps),
    its flat metrics (None: not computed at this checkpoint) and their intervals ``(low, high)``."""

    step: int
    epoch: float | None
    metrics: dict[str, float | None]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        """The metric's value here; None when not computed here (absent or None)."""
        return self.metrics.get(metric_key(name))

    @property
    def label(self) -> str:
        """``step 40 (epoch 2)`` for reasons and reports."""
        return f"step {self.step}" + (f" (epoch {self.epoch:g})" if self.epoch is not None else "")


@dataclass(frozen=True)
class Selection:
    """What a rule chose: a checkpoint, or None when none qualifies; ``reason`` says why, in one line."""

    rule: str
    checkpoint: Checkpoint | None
    reason: str


def in_order(curve: Iterable[Checkpoint]) -> list[Checkpoint]:
    """The checkpoints by step, so "the first" means the earliest in training whatever order they came in
    (stable: checkpoints with the same step keep their order)."""
    return sorted(curve, key=lambda c: c.step)


def check_metrics(curve: list[Checkpoint], names: Iterable[str]) -> None:
    """Refuse a metric that no checkpoint of the curve has (a typo, or a metric the evaluation during
    training does not compute), naming the ones it has. A metric some checkpoints have and others lack,
    or have as None, is not an error: those checkpoints simply do not qualify."""
    known = {key for checkpoint in curve for key in checkpoint.metrics}
    for name in names:
        if metric_key(name) not in known:
            raise UserError(f"metric '{name}' is in none of the curve's checkpoints "
                            f"(they have: {', '.join(sorted(known)) or 'no metrics'})")


def number(value: float) -> str:
    """A value as reasons print it: four significant digits."""
    return f"{value:.4g}"
