"""Recovery: the share of what unlearning removed that an attack brings back.

``recovery = (s_attacked - s_unlearned) / (s_original - s_unlearned)`` for a forget-knowledge
score s (fact accuracy, ROUGE-L, multiple-choice accuracy, ...): 0 = nothing came back, 1 = as
good as before unlearning; below 0 the attack removed even more, above 1 it recovered more than
the original knew. Undefined when unlearning removed (almost) nothing: a denominator smaller than
``min_gap`` makes any quotient noise, so recovery is then not computed, with the reason. The
gap is signed: under a prompt attack the original model is scored with the same prompt, and a
prompt that lowers the original below the unlearned model (few-shot prompts can) leaves nothing
to recover, although ``|gap|`` may be large; the quotient would read 1 for an attack that brought
nothing back.

All three evaluations are on the same questions, so the interval resamples the questions once for
all three (a paired bootstrap): the spread common to the three models cancels.
"""

from __future__ import annotations

import numpy as np

from unlearn.metrics.uncertainty import bootstrap_interval

MIN_GAP = 0.05  # smallest original - unlearned difference a recovery is computed for
# Raised when recovery's definition changes, so that experiments redo their attack steps. 2: signed gap.
RECOVERY_VERSION = 2


def recovery(attacked: float, unlearned: float, original: float, min_gap: float = MIN_GAP) -> float | None:
    """``(attacked - unlearned) / (original - unlearned)``; None when ``original - unlearned < min_gap``."""
    gap = original - unlearned
    if not gap >= min_gap:  # also None for nan
        return None
    return (attacked - unlearned) / gap


def recovery_with_interval(attacked: list[float], unlearned: list[float], original: list[float],
                           min_gap: float = MIN_GAP, **options) -> tuple[float | None, list[float] | None, str]:
    """Recovery of the means of three per-question columns (same questions, same order), its paired
    bootstrap interval, and the reason when it is not computed ("" when it is)."""
    columns = [np.asarray(c, dtype=float) for c in (attacked, unlearned, original)]
    if len({c.size for c in columns}) != 1:
        raise ValueError("recovery compares the same questions: the three columns must have equal lengths")
    means = [float(np.mean(c)) if c.size else float("nan") for c in columns]
    value = recovery(*means, min_gap=min_gap)
    if value is None:
        return None, None, (f"the original model scores {means[2] - means[1]:+.3g} above the unlearned one (original "
                            f"{means[2]:.3g}, unlearned {means[1]:.3g}), less than {min_gap}: nothing to recover")

    def statistic(a, u, o):  # numpy division: a resample with no gap gives inf, and no interval
        return (np.mean(a) - np.mean(u)) / (np.mean(o) - np.mean(u))

    interval = bootstrap_interval(columns, statistic, paired=True, **options)
    return value, list(interval) if interval else None, ""
