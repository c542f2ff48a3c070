"""``attack_summary.json``: per attack and forget metric, the unlearned, attacked and original
scores on the same questions, the recovery with its paired interval, and the worst case.

Everything is read back from the evaluation folders the attacks wrote (their per-example rows), so
the summary is a pure function of files a user can inspect.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from unlearn.attacks.recovery import recovery_with_interval
from unlearn.evaluation.evaluator import metric_columns
from unlearn.evaluation.splits import EvalSplit
from unlearn.report.collect import read_json


def forget_columns(folder: Path) -> dict[str, np.ndarray]:
    """The per-question terms of every forget metric of an evaluation folder."""
    examples = read_json(folder / "forget.json")["examples"]
    return metric_columns(EvalSplit("forget", "forget", []), examples)


def metric_entry(attacked, unlearned, original, min_gap: float, interval_options: dict,
                 missing: str = "") -> dict:
    """Means over the questions where all three are defined, recovery, interval, reason if not computed."""
    columns = [np.asarray(c, dtype=float) for c in (attacked, unlearned, original)]
    kept = np.isfinite(columns[0]) & np.isfinite(columns[1]) & np.isfinite(columns[2])
    if not kept.any():
        return {"unlearned": None, "attacked": None, "original": None, "recovery": None, "interval": None,
                "not_computed": missing or "the metric is not computed on these questions"}
    a, u, o = (c[kept] for c in columns)
    value, interval, reason = recovery_with_interval(a, u, o, min_gap, **interval_options)
    return {"unlearned": float(u.mean()), "attacked": float(a.mean()), "original": float(o.mean()),
            "recovery": value, "interval": interval, "not_computed": reason or None, "questions": int(kept.sum())}


def eval_attack_metrics(attacked: Path, unlearned: Path, original: Path, rows: list[int], prompt: bool,
                        metrics: list[str], min_gap: float, interval_options: dict) -> dict:
    """Recovery of each metric for an attack measured by an evaluation folder. ``rows``: the forget
    records it measured, in its order. A prompt attack's ceiling is the original model under the same
    prompt (``original`` is that folder, row for row); a model attack's is the original's plain
    evaluation at ``rows``."""
    after, before, ceiling = forget_columns(attacked), forget_columns(unlearned), forget_columns(original)
    not_computed = read_json(attacked / "summary.json").get("not_computed", {})
    entries = {}
    for name in metrics:
        if name not in after:
            entries[name] = {"recovery": None, "not_computed": f"'{name}' is not a forget metric"}
            continue
        top = ceiling[name] if prompt else ceiling[name][rows]
        entries[name] = metric_entry(after[name], before[name][rows], top, min_gap, interval_options,
                                     not_computed.get(f"forget.{name}", ""))
    return entries


def robust_scores(unlearned_summary: dict, attacks: list[dict], metrics: list[str]) -> dict:
    """Worst case per forget metric: the highest score among the unattacked model and every attack
    measured on that metric (relearning attacks score their held-out questions only)."""
    plain = unlearned_summary["splits"]["forget"]["metrics"]
    robust = {}
    for name in metrics:
        value, source = plain.get(name), "none"
        if value is None:
            continue
        for attack in attacks:
            attacked = attack["metrics"].get(name, {}).get("attacked")
            if attacked is not None and math.isfinite(attacked) and attacked > value:
                value, source = attacked, attack["name"]
        robust[name] = {"value": value, "attack": source, "unlearned": plain[name]}
    return robust
