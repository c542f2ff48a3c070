"""Confidence intervals over examples: exact ones for proportions, BCa bootstrap for the rest.

An evaluation is a sample of questions; a second sample of the same size would give other
averages. Two kinds of interval say how far:

- A **proportion** (fact accuracy, multiple-choice accuracy, entailment share: every per-example
  value is 0 or 1) gets the Clopper-Pearson interval (exact, never below its level; Wilson's
  score interval is the option). The percentile bootstrap gives an all-zero sample of 20 the
  interval [0, 0] and covers only about 66% at p = 0.05 (BENCHMARKS.md, "Interval coverage");
  Clopper-Pearson gives [0, 0.168]. The kind is read off the data: a mean whose values are all
  0 or 1 is a proportion. The columns averaged here lie in [0, 1], where this is also safe for
  a continuous metric whose sample happens to be all 0 or 1: ``P(all n values are 0) <= (1-mu)^n``
  for any variable in [0, 1] with mean ``mu``, so the exact upper limit still covers.
- **Any other statistic** gets the bias-corrected and accelerated (BCa) bootstrap (Efron 1987):
  resample the examples with replacement ``B`` times and read the interval off the resampled
  values at levels corrected for the statistic's bias and skew. Where BCa is undefined (a
  sample with no spread, or a statistic whose jackknife or resamples are not finite, such as a
  ratio with a zero denominator) the percentile bootstrap (Efron 1979) is used instead. Several
  samples (the splits behind model utility) are each resampled on their own; paired samples
  (two models on the same questions) are resampled with the same indices.
  ``scipy.stats.bootstrap`` does the resampling with a fixed seed, so identical inputs give
  identical intervals.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from unlearn.metrics import CONFIDENCE, RESAMPLES

# scipy.stats is imported where it is used (0.5 s): a process that only reads results does not need it
SEED = 0
PROPORTION_METHODS = {"exact": "Clopper-Pearson", "wilson": "Wilson score"}
# What summary.json's "intervals" says about how its intervals were made.
METHOD_DESCRIPTION = ("Clopper-Pearson exact interval for proportions (means whose per-example values are all 0 or 1); "
          "BCa bootstrap over examples for every other number, percentile bootstrap where BCa is undefined "
          "(no spread in the sample, or a statistic not finite on the jackknife or the resamples)")
PAIRED_METHOD_DESCRIPTION = ("paired BCa bootstrap over questions, percentile bootstrap where BCa is undefined "
                 "(no spread, or a statistic not finite on the jackknife or the resamples)")


def is_proportion(values: np.ndarray) -> bool:
    """Whether a sample is successes and failures: at least one value, every value 0 or 1."""
    return values.size > 0 and bool(np.all((values == 0.0) | (values == 1.0)))


@lru_cache(maxsize=4096)
def proportion_interval(successes: int, trials: int, *, confidence: float = CONFIDENCE,
                        method: str = "exact") -> tuple[float, float] | None:
    """Interval of a proportion ``k / n`` from its counts (None when ``n`` is 0).

    ``exact`` (Clopper-Pearson), with ``a = 1 - confidence``: low = Beta quantile ``a/2`` of
    Beta(k, n-k+1) (0 when k = 0), high = Beta quantile ``1-a/2`` of Beta(k+1, n-k) (1 when
    k = n); for k = 0 the high end is ``1 - (a/2)^(1/n)``. ``wilson``: with ``z`` the normal
    quantile ``1-a/2`` and ``p = k/n``,
    ``(p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``.
    Computed by ``scipy.stats.binomtest(k, n).proportion_ci``."""
    if method not in PROPORTION_METHODS:
        raise ValueError(f"unknown proportion interval {method!r} (known: {', '.join(PROPORTION_METHODS)})")
    if trials < 1:
        return None
    from scipy import stats

    found = stats.binomtest(successes, trials).proportion_ci(confidence, method=method)
    return float(found.low), float(found.high)


def bootstrap_interval(samples: Sequence[Sequence[float]], statistic: Callable[..., float], *,
                       paired: bool = False, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                       seed: int = SEED, method: str = "BCa", vectorized: bool = False) -> tuple[float, float] | None:
    """Bootstrap interval of ``statistic(*samples)``: BCa, or the percentile method where BCa is
    undefined (``method="percentile"`` asks for it directly).

    BCa, with ``t*`` the ``B`` resampled statistics, ``t`` the statistic, ``t_(i)`` its jackknife
    values (example ``i`` left out) and ``U_i = (n-1)(mean_j t_(j) - t_(i))``:
    ``z0 = Phi^-1(share of t* below t, ties counted half)``, ``acc = sum U^3 / (6 (sum U^2)^(3/2))``
    (summed over the samples, each term divided by ``n^3`` and ``n^2``), and the interval is the
    quantiles ``Phi(z0 + (z0 + z_q) / (1 - acc (z0 + z_q)))`` of ``t*`` for ``z_q`` = the normal
    quantiles of ``(1-c)/2`` and ``(1+c)/2``. The percentile interval is ``t*``'s plain
    ``(1-c)/2`` and ``(1+c)/2`` quantiles.

    ``statistic`` receives one resampled array per sample (with ``vectorized``, a stack of them
    and ``axis``). Unpaired samples are resampled independently; ``paired`` samples (equal
    lengths) share the resampled indices. None when a sample has fewer than 2 values (no spread
    can be estimated) or neither method gives a finite interval."""
    arrays = [np.asarray(s, dtype=float) for s in samples]
    if not arrays or any(a.size < 2 for a in arrays):
        return None
    from scipy import stats

    with warnings.catch_warnings():
        # a degenerate BCa (nan) and nan statistics are detected below
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(arrays, statistic, n_resamples=resamples, vectorized=vectorized, paired=paired,
                                 confidence_level=confidence, method=method, rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if not (math.isfinite(low) and math.isfinite(high)) and method == "BCa":
            # the percentile interval of the same resamples (no second bootstrap)
            low, high = np.quantile(result.bootstrap_distribution, [(1 - confidence) / 2, (1 + confidence) / 2])
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return float(low), float(high)


def mean_interval(values: Sequence[float], *, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                  seed: int = SEED, proportion: str = "exact") -> tuple[float, float] | None:
    """Interval of the mean of ``values`` (nan entries are not values and are dropped first):
    ``proportion_interval`` when every value is 0 or 1, else ``bootstrap_interval``."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if is_proportion(finite):
        return proportion_interval(int(finite.sum()), int(finite.size), confidence=confidence, method=proportion)
    return bootstrap_interval([finite], np.mean, confidence=confidence, resamples=resamples, seed=seed,
                              vectorized=True)


def excludes(interval: tuple[float, float] | None, value: float = 0.0) -> bool:
    """Whether ``value`` lies outside the interval (a difference 'beyond its interval')."""
    return interval is not None and not interval[0] <= value <= interval[1]
