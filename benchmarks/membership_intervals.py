"""Time one evaluation's membership-inference intervals, one resample at a time (before issue 29) and all
resamples at once (``metrics/privacy.py``: ``auc_interval``, ``priv_leak_interval``), and check that both
give the same intervals.

One evaluation has an AUC interval per membership attack (4: loss, zlib, min_k, min_k_plus_plus) and, with
a retain model, a paired PrivLeak interval per attack (both models' AUCs on the same resampled questions).
"Before" is what each resample computed then: one ``scipy.stats.mannwhitneyu`` per AUC, inside
``scipy.stats.bootstrap`` with ``vectorized=False`` (``uncertainty.bootstrap_interval``, same seed and
resamples: the reference of ``tests/test_metrics.py``). The scores are synthetic (seeded normals rounded to
0.1, so ties occur; the holdout shifted by 0.5, the retain model's scores the forget model's plus noise).
Best of ``--repeats`` per cell, 1 thread; prints a Markdown table (no file is written).

    python benchmarks/membership_intervals.py --sizes 4 32 --repeats 3
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy loads: one thread, as the note below the table says

import argparse  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from unlearn.metrics import RESAMPLES  # noqa: E402
from unlearn.metrics.privacy import auc_interval, priv_leak, priv_leak_interval  # noqa: E402
from unlearn.metrics.uncertainty import bootstrap_interval  # noqa: E402

ATTACKS = ("loss", "zlib", "min_k", "min_k_plus_plus")


def scores(n: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Per attack: the model's forget (member) and holdout scores, and the retain model's on the same texts."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in ATTACKS:
        member, holdout = rng.normal(0.0, 1.0, n).round(1), rng.normal(0.5, 1.0, n).round(1)
        out.append({"member": member, "holdout": holdout, "ref_member": member + 0.3 * rng.normal(size=n),
                    "ref_holdout": holdout + 0.3 * rng.normal(size=n)})
    return out


def old_auc(member, nonmember) -> float:
    """One resample's AUC as it was computed: a Mann-Whitney test, ``U / (n1 n0)``."""
    return stats.mannwhitneyu(nonmember, member).statistic / (len(member) * len(nonmember))


def old_intervals(attacks: list[dict], with_priv_leak: bool) -> list:
    """The evaluation's intervals, one statistic call per resample."""
    found = []
    for s in attacks:
        found.append(bootstrap_interval([s["member"], s["holdout"]], old_auc, resamples=RESAMPLES))
        if with_priv_leak:
            m, h, rm, rh = s["member"], s["holdout"], s["ref_member"], s["ref_holdout"]

            def leak(fi, hi, m=m, h=h, rm=rm, rh=rh):
                fi, hi = fi.astype(int), hi.astype(int)
                return priv_leak(1 - old_auc(m[fi], h[hi]), 1 - old_auc(rm[fi], rh[hi]))

            found.append(bootstrap_interval([np.arange(len(m)), np.arange(len(h))], leak, resamples=RESAMPLES))
    return found


def new_intervals(attacks: list[dict], with_priv_leak: bool) -> list:
    """The evaluation's intervals as ``evaluation/summary.py`` computes them now: all resamples at once."""
    found = []
    for s in attacks:
        found.append(auc_interval(s["member"], s["holdout"], resamples=RESAMPLES))
        if with_priv_leak:
            found.append(priv_leak_interval(s["member"], s["holdout"], s["ref_member"], s["ref_holdout"],
                                            paired=True, resamples=RESAMPLES))
    return found


def best_of(function, repeats: int) -> tuple[float, list]:
    """The shortest of ``repeats`` calls, in seconds, and what the calls returned (the same each time)."""
    times, results = [], []
    for _ in range(repeats):
        began = time.perf_counter()
        results.append(function())
        times.append(time.perf_counter() - began)
    if any(r != results[0] for r in results):
        raise SystemExit("a repeated call gave other intervals")
    return min(times), results[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 32], help="examples per side (forget, holdout)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per cell; the best is reported")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic scores")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    lines = ["| examples per side | intervals (defined) | before | after | before / after |", "|---|---|---|---|---|"]
    for n in args.sizes:
        attacks = scores(n, args.seed)
        for with_priv_leak, label in ((False, "AUC"), (True, "AUC + paired PrivLeak")):
            before, old = best_of(partial(old_intervals, attacks, with_priv_leak), args.repeats)
            after, new = best_of(partial(new_intervals, attacks, with_priv_leak), args.repeats)
            if old != new:
                raise SystemExit(f"n={n} {label}: the intervals differ\n  before {old}\n  after  {new}")
            defined = f"{sum(i is not None for i in new)} of {len(new)}"
            lines.append(f"| {n} | {label} ({defined}) | {before:.2f} s | {after:.3f} s | {before / after:.0f}x |")
    print("\n".join(lines))
    print(f"\n{len(ATTACKS)} attacks, {RESAMPLES} resamples, best of {args.repeats}, 1 thread; every interval equal "
          f"before and after; 1-minute load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
