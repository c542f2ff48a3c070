"""``attack_summary.json``: per attack and forget metric, the unlearned, attacked, original and
control scores on the same questions, the recovery with its paired interval, and the worst case.

Everything is read back from the evaluation folders the attacks wrote (their per-example rows), so
the summary is a pure function of files a user can inspect.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from unlearn.attacks.recovery import recovery_with_interval
from unlearn.evaluation.evaluator import metric_columns
from unlearn.evaluation.splits import EvalSplit
from unlearn.report.collect import read_json

NO_CONTROL = "against the unattacked floor (no control)"
WITH_CONTROL = "beyond the control model under the same attack"


def forget_columns(folder: Path) -> dict[str, np.ndarray]:
    """The per-question terms of every forget metric of an evaluation folder."""
    examples = read_json(folder / "forget.json")["examples"]
    return metric_columns(EvalSplit("forget", "forget", []), examples)


def metric_entry(attacked, unlearned, original, min_gap: float, interval_options: dict, missing: str = "",
                 control_attacked=None, control=None) -> dict:
    """Means over the questions where every column is defined, recovery, interval, reason if not
    computed. Without control columns, recovery is against the unattacked floor."""
    given = [attacked, unlearned, original, control_attacked, control]
    columns = [np.asarray(c, dtype=float) if c is not None else None for c in given]
    kept = np.logical_and.reduce([np.isfinite(c) for c in columns if c is not None])
    if not kept.any():
        return {"unlearned": None, "attacked": None, "original": None, "control_attacked": None, "control": None,
                "recovery": None, "interval": None,
                "not_computed": missing or "the metric is not computed on these questions"}
    a, u, o, a_c, c = (col[kept] if col is not None else None for col in columns)
    value, interval, reason = recovery_with_interval(a, u, o, a_c, c, min_gap, **interval_options)

    def mean(col):
        return float(col.mean()) if col is not None else None

    return {"unlearned": mean(u), "attacked": mean(a), "original": mean(o), "control_attacked": mean(a_c),
            "control": mean(c), "recovery": value, "interval": interval, "not_computed": reason or None,
            "questions": int(kept.sum())}


def eval_attack_metrics(attacked: Path, unlearned: Path, original: Path, rows: list[int], prompt: bool,
                        metrics: list[str], min_gap: float, interval_options: dict,
                        control_attacked: Path | None = None, control: Path | None = None) -> dict:
    """Recovery of each metric for an attack measured by an evaluation folder. ``rows``: the forget
    records it measured, in its order. A prompt attack's ceiling is the original model under the same
    prompt (``original`` is that folder, row for row); a model attack's is the original's plain
    evaluation at ``rows``. ``control_attacked`` is the control under the same attack (row for row
    with ``attacked``), ``control`` its plain evaluation."""
    after, before, ceiling = forget_columns(attacked), forget_columns(unlearned), forget_columns(original)
    control_after = forget_columns(control_attacked) if control_attacked else None
    control_before = forget_columns(control) if control else None
    not_computed = read_json(attacked / "summary.json").get("not_computed", {})
    entries = {}
    for name in metrics:
        if name not in after:
            entries[name] = {"recovery": None, "not_computed": f"'{name}' is not a forget metric"}
            continue
        top = ceiling[name] if prompt else ceiling[name][rows]
        entries[name] = metric_entry(after[name], before[name][rows], top, min_gap, interval_options,
                                     not_computed.get(f"forget.{name}", ""),
                                     control_after[name] if control_after else None,
                                     control_before[name][rows] if control_before else None)
    return entries


def halves(size: int, seed: int) -> tuple[list[int], list[int]]:
    """A seeded shuffle of ``range(size)`` cut in two: (the first ``size // 2``, the rest), each sorted."""
    order = list(range(size))
    random.Random(seed).shuffle(order)
    return sorted(order[:size // 2]), sorted(order[size // 2:])


def select_worst(candidates: dict[str, tuple[np.ndarray, np.ndarray | None]], seed: int = 0) -> dict | None:
    """The worst case over attacks, corrected for choosing it: the questions (the same for every
    candidate) are cut into two seeded halves; the attack with the highest mean score minus the
    control's mean score under it (without control: the highest score) is chosen on the first half,
    and its scores are reported on the second. Reporting the maximum of ~12 noisy means on the
    questions that chose it would be biased upwards; on the other half it is an unbiased estimate of
    the chosen attack's score. ``candidates``: name -> (score column, control column or None). None
    when there are fewer than 2 questions."""
    size = len(next(iter(candidates.values()))[0])
    if size < 2:
        return None
    choose, report = halves(size, seed)

    def knowledge(name: str, rows: list[int]) -> float:
        score, control = candidates[name]
        return float(np.mean(score[rows]) - (np.mean(control[rows]) if control is not None else 0.0))

    chosen = max(candidates, key=lambda name: knowledge(name, choose))  # ties: the first candidate
    score, control = candidates[chosen]
    return {"attack": chosen, "value": float(np.mean(score[report])),
            "control": float(np.mean(control[report])) if control is not None else None,
            "questions_chosen_on": len(choose), "questions_reported_on": len(report)}


def robust_scores(unlearned: dict[str, np.ndarray], control: dict[str, np.ndarray] | None,
                  measured: dict[str, tuple[list[int], dict, dict | None]], metrics: list[str],
                  forget_count: int, seed: int = 0) -> dict:
    """Worst case per forget metric over the unattacked model (``none``) and every attack measured
    by an evaluation folder, on the questions every one of them measured (relearning measures a
    held-out share), chosen on one half of them and reported on the other (``select_worst``).
    ``measured``: attack -> (rows, its columns, the control's columns under it or None)."""
    robust = {}
    for name in metrics:
        if name not in unlearned:
            continue
        columns = {"none": (np.asarray(unlearned[name], dtype=float),
                            np.asarray(control[name], dtype=float) if control else None)}
        for attack, (rows, cols, control_cols) in measured.items():
            if name not in cols:
                continue
            full = [np.full(forget_count, np.nan) for _ in range(2)]
            full[0][rows] = cols[name]
            if control_cols is not None:
                full[1][rows] = control_cols[name]
            columns[attack] = (full[0], full[1] if control_cols is not None else None)
        defined = np.logical_and.reduce([np.isfinite(c) for pair in columns.values() for c in pair if c is not None])
        shared = np.flatnonzero(defined)
        worst = select_worst({k: (s[shared], c[shared] if c is not None else None) for k, (s, c) in columns.items()},
                             seed)
        if worst is None:
            robust[name] = {"value": None, "attack": None, "not_computed": f"{len(shared)} question(s) measured by "
                            "every attack: too few to choose the worst on one half and report it on the other"}
            continue
        plain, plain_control = columns["none"]
        report = shared[halves(len(shared), seed)[1]]
        robust[name] = {**worst, "unlearned": float(np.mean(plain[report])),
                        "control_unattacked": float(np.mean(plain_control[report])) if plain_control is not None
                        else None,
                        "rule": "chosen on one seeded half of the questions every attack measured, reported on the "
                                "other half" + ("; chosen by the score minus the control's under the same attack"
                                                if control else "")}
    return robust
