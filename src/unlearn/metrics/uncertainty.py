"""Confidence intervals by the bootstrap over examples: one function for every average.

An evaluation is a sample of questions; a second sample of the same size would give other
averages. The percentile bootstrap (Efron 1979) estimates how far: resample the examples with
replacement ``B`` times, recompute the statistic each time, and take the ``(1-c)/2`` and
``(1+c)/2`` quantiles of the ``B`` values as the ``c`` interval. Several samples (the splits
behind model utility) are each resampled on their own; paired samples (two models on the same
questions) are resampled with the same indices. ``scipy.stats.bootstrap`` does the resampling,
with a fixed seed, so identical inputs give identical intervals.

The percentile method is used rather than BCa: it is defined for every sample of at least two
values, including the all-0 / all-1 samples that fact accuracy often produces, where BCa's
acceleration is undefined.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 1000
SEED = 0


def bootstrap_interval(samples: Sequence[Sequence[float]], statistic: Callable[..., float], *,
                       paired: bool = False, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                       seed: int = SEED) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic(*samples)``.

    ``statistic`` receives one resampled array per sample. Unpaired samples are resampled
    independently; ``paired`` samples (equal lengths) share the resampled indices. None when a
    sample has fewer than 2 values (no spread can be estimated) or the statistic is not finite
    on the resamples."""
    arrays = [np.asarray(s, dtype=float) for s in samples]
    if not arrays or any(a.size < 2 for a in arrays):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nan statistics are detected below
        result = stats.bootstrap(arrays, statistic, n_resamples=resamples, vectorized=False, paired=paired,
                                 confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return low, high


def mean_interval(values: Sequence[float], **options) -> tuple[float, float] | None:
    """Interval of the mean of ``values`` (nan entries are not values and are dropped first)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return bootstrap_interval([finite], np.mean, **options)


def excludes(interval: tuple[float, float] | None, value: float = 0.0) -> bool:
    """Whether ``value`` lies outside the interval (a difference 'beyond its interval')."""
    return interval is not None and not interval[0] <= value <= interval[1]
