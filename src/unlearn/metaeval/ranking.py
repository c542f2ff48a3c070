"""Rank metrics by faithfulness and robustness from plain tables of their values on a pool of models.

Tables are ``{metric: {model_id: value}}``; the model labels say which models know the forget data. The rows are
plain dicts of str, float, int and None, so they go to JSON as they are. arXiv 2506.12618, Section 4.1 and its
meta-evaluation table: each metric gets a faithfulness, a robustness per attack and combined, and an overall score,
the harmonic mean of faithfulness and robustness, by which the metrics are ranked.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from unlearn.metaeval.faithfulness import MetaEvalError, faithfulness, split_pool
from unlearn.metaeval.robustness import harmonic_mean, mean, quantization_robustness, relearning_robustness

Table = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Attack:
    """One attack's measurements: each metric's values on the same models before and after the attack."""

    before: Table
    after: Table


def _attacked(attack: Attack, metric: str) -> tuple[Mapping[str, float], Mapping[str, float]]:
    """The metric's before and after values, which must cover the same models (a pair per model)."""
    before, after = attack.before.get(metric), attack.after.get(metric)
    if before is None or after is None:
        raise MetaEvalError(f"the attack table has no values for metric {metric!r}")
    if set(before) != set(after):
        odd = sorted(set(before) ^ set(after))
        raise MetaEvalError(f"metric {metric!r}: model(s) {', '.join(odd)} have a value on one side of the attack only")
    return before, after


def mean_relearning(attack: Attack, metric: str, retain_id: str | Mapping[str, str]) -> float:
    """Mean R (Eq. 2) over the unlearned models of a relearning table, each against its retain model.

    ``retain_id`` names one retain model for every other model of the table, or maps each unlearned model to its
    own: the retain model it came from, whose values were measured on the same questions as its own.
    """
    before, after = _attacked(attack, metric)
    retains = (dict(retain_id) if isinstance(retain_id, Mapping)
               else {m: retain_id for m in before if m != retain_id})
    for unlearned, retain in sorted(retains.items()):
        for model, what in ((retain, "retain model"), (unlearned, "unlearned model")):
            if model not in before:
                raise MetaEvalError(f"metric {metric!r}: the relearning table has no {what} {model!r}")
    return mean(relearning_robustness(before[u], after[u], before[r], after[r]) for u, r in sorted(retains.items()))


def mean_quantization(attack: Attack, metric: str, direction: str) -> float:
    """Mean Q (Eq. 3) over the models of a quantization table."""
    before, after = _attacked(attack, metric)
    return mean(quantization_robustness(before[m], after[m], direction) for m in sorted(before))


def rank_rows(rows: list[dict]) -> list[dict]:
    """The rows best first by ``overall``, each with its competition ``rank`` (equal scores share a rank: 1, 1, 3,
    and are listed by name). A row whose ``overall`` is None (a metric not computed) comes last with rank None:
    a missing score is not a low one."""
    scored = sorted((row for row in rows if row["overall"] is not None),
                    key=lambda row: (-row["overall"], row["metric"]))
    for i, row in enumerate(scored):
        row["rank"] = scored[i - 1]["rank"] if i and row["overall"] == scored[i - 1]["overall"] else i + 1
    missing = sorted((row for row in rows if row["overall"] is None), key=lambda row: row["metric"])
    for row in missing:
        row["rank"] = None
    return scored + missing


def rank_metrics(values: Table, knows: Mapping[str, bool], directions: Mapping[str, str], *,
                 relearning: Attack | None = None, retain_id: str | Mapping[str, str] | None = None,
                 quantization: Attack | None = None) -> list[dict]:
    """One JSON-ready row per metric, best first.

    ``values`` holds each metric's values on the labelled pool, ``knows[model_id]`` is True for a model that
    knows the forget data, ``directions[metric]`` is "higher" or "lower" (which way means more knowledge).
    ``relearning`` (with the retain model's id, ``retain_id``, or a mapping from each unlearned model to its own
    retain model's id) and ``quantization`` are optional attack tables.
    Each row has ``faithfulness`` (the AUC), ``relearning`` and ``quantization`` (mean R and Q, None without the
    table), ``robustness`` (the harmonic mean of those given, Eq. 4; None without either), ``overall`` (the
    harmonic mean of faithfulness and robustness, or faithfulness alone without attacks) and ``rank`` by overall;
    equal scores share a rank and are listed by name.
    """
    if relearning is not None and retain_id is None:
        raise MetaEvalError("relearning robustness needs the retain model's id (retain_id)")
    rows = []
    for metric in sorted(values):
        if metric not in directions:
            raise MetaEvalError(f"metric {metric!r} has no direction ('higher' or 'lower' means more knowledge)")
        direction = directions[metric]
        positives, negatives = split_pool(values[metric], knows, metric)
        faith = faithfulness(positives, negatives, direction)
        r = mean_relearning(relearning, metric, retain_id) if relearning is not None else None
        q = mean_quantization(quantization, metric, direction) if quantization is not None else None
        given = [s for s in (r, q) if s is not None]
        robust = harmonic_mean(given) if given else None
        overall = harmonic_mean([faith, robust]) if robust is not None else faith
        rows.append({"metric": metric, "direction": direction, "faithfulness": faith, "relearning": r,
                     "quantization": q, "robustness": robust, "overall": overall})
    return rank_rows(rows)
