"""How often a 95% interval covers the true value, by simulation, for the intervals evaluations write.

Two statistics, each at p in {0.05, 0.2, 0.5} and n in {20, 50, 200} examples:
- the mean of 0/1 values (fact accuracy): Bernoulli(p) samples; the default interval
  (Clopper-Pearson), Wilson's, and the percentile bootstrap that evaluations used before;
- the mean of ROUGE-like values in [0, 1]: 0 (no overlap) with probability 1 - 4p/3, else
  uniform on [0.5, 1], so the true mean is p; the default (BCa bootstrap, or Clopper-Pearson
  when a sample happens to be all 0 or 1), BCa alone and the percentile bootstrap.
Coverage is the share of simulated samples whose interval contains p; width is the mean
interval width. Writes the table into BENCHMARKS.md ("Interval coverage").

    python benchmarks/interval_coverage.py --trials 2000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks_common import cpu_name, update_section
from unlearn.metrics.uncertainty import CONFIDENCE, RESAMPLES, bootstrap_interval, mean_interval

HEADING = "## Interval coverage"
PS = (0.05, 0.2, 0.5)
NS = (20, 50, 200)


def bernoulli(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    return (rng.random(n) < p).astype(float)


def rouge_like(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    """0 with probability 1 - 4p/3, else uniform on [0.5, 1] (mean 0.75): the mean is p."""
    overlap = rng.random(n) < 4 * p / 3
    return np.where(overlap, rng.uniform(0.5, 1.0, n), 0.0)


def percentile(values: np.ndarray):
    return bootstrap_interval([values], np.mean, method="percentile", vectorized=True)


def bca(values: np.ndarray):
    return bootstrap_interval([values], np.mean, vectorized=True)


METHODS = {
    "0/1 values (fact accuracy)": (bernoulli, {"Clopper-Pearson (default)": mean_interval,
                                               "Wilson": lambda x: mean_interval(x, proportion="wilson"),
                                               "percentile bootstrap (before)": percentile}),
    "ROUGE-like values in [0, 1]": (rouge_like, {"default (BCa; Clopper-Pearson if all 0 or 1)": mean_interval,
                                                 "BCa alone": bca, "percentile bootstrap (before)": percentile}),
}


def coverage(draw, interval, p: float, n: int, trials: int, seed: int) -> tuple[float, float]:
    """(share of ``trials`` samples whose interval contains ``p``, mean width); a sample with no
    interval counts as not covering."""
    rng = np.random.default_rng(seed)
    covered, widths = 0, []
    for _ in range(trials):
        found = interval(draw(rng, p, n))
        if found is not None:
            covered += found[0] <= p <= found[1]
            widths.append(found[1] - found[0])
    return covered / trials, float(np.mean(widths)) if widths else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000, help="simulated samples per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "BENCHMARKS.md"))
    args = parser.parse_args()
    start = time.perf_counter()
    tables = []
    for statistic, (draw, methods) in METHODS.items():
        header = "| p | n | " + " | ".join(methods) + " |"
        rows = [header, "|" + "---|" * (len(methods) + 2)]
        for p in PS:
            for n in NS:
                cells = [coverage(draw, interval, p, n, args.trials, args.seed) for interval in methods.values()]
                rows.append(f"| {p} | {n} | " + " | ".join(f"{c:.3f} ({w:.3f})" for c, w in cells) + " |")
                print(statistic, p, n, " ".join(f"{name}: {c:.3f} ({w:.3f})" for name, (c, w) in zip(methods, cells)),
                      flush=True)
        tables.append(f"{statistic}, coverage of the {CONFIDENCE:.0%} interval (mean width):\n\n" + "\n".join(rows))
    seconds = time.perf_counter() - start
    standard_error = (CONFIDENCE * (1 - CONFIDENCE) / args.trials) ** 0.5
    section = (f"{HEADING}\n\n`python benchmarks/interval_coverage.py --trials {args.trials} --seed {args.seed}`: "
               f"{args.trials} simulated samples per cell (seed {args.seed}), {RESAMPLES} bootstrap resamples per "
               f"interval; {seconds:.0f} s on {cpu_name()}. A cell is the share of samples whose interval holds the "
               f"true mean p (a {CONFIDENCE:.0%} interval should reach {CONFIDENCE}; simulation error about "
               f"±{standard_error:.3f}), with the mean width in brackets. ROUGE-like values: 0 with probability "
               "1 - 4p/3, else uniform on [0.5, 1]; BCa alone is undefined on a sample of zeros and gives the "
               "percentile interval [0, 0] there, which the default replaces with Clopper-Pearson's. Before this "
               "table, evaluations used the percentile bootstrap for every interval.\n\n" + "\n\n".join(tables) + "\n")
    update_section(Path(args.out), section, HEADING)
    print(f"wrote {HEADING!r} into {args.out} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
