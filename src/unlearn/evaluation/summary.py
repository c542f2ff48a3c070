"""Model-level numbers from the split results: utility, forget efficacy, forget quality, privacy.

Every number is either computed or listed in ``not_computed`` with the reason; a missing
ingredient never turns into a 0. Utility, forget efficacy, the membership AUCs and PrivLeak get
BCa bootstrap intervals (percentile where BCa is undefined, ``uncertainty.bootstrap_interval``):
each split's examples are resampled on their own and the number is recomputed from the
resampled split averages by the same function that computes it.

The membership AUCs ``mia_auc_*`` are open-unlearning's orientation (1 = forget set stands out);
PrivLeak ``priv_leak_*`` is MUSE's, in percent, from the AUCs turned round (``to_muse_auc``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from unlearn.evaluation.builtin_metrics import MIA_ATTACK_LABELS
from unlearn.evaluation.evaluator import SplitResult, finite_mean, metric_columns
from unlearn.evaluation.splits import UTILITY_ROLES
from unlearn.metrics.likelihood import forget_efficacy, forget_quality, harmonic_mean
from unlearn.metrics.privacy import auc, auc_interval, priv_leak, priv_leak_interval, to_muse_auc
from unlearn.metrics.uncertainty import bootstrap_interval

TOFU_UTILITY_METRICS = ("rougeL_recall", "probability", "truth_ratio")
SEED_PAPER_UTILITY_METRICS = TOFU_UTILITY_METRICS + ("token_entropy", "cosine_similarity", "entailment_score")
MIA_ATTACKS = tuple(MIA_ATTACK_LABELS)  # each also a model-level number registered with its label
FORGET_EFFICACY_METRICS = ("rougeL_recall", "probability", "truth_ratio", "cosine_similarity", "entailment_score")
# Below this many forget examples a KS test cannot tell a model that forgot from one that did not.
FORGET_QUALITY_MIN_EXAMPLES = 20


@dataclass(frozen=True)
class RetainModelEval:
    """What forget quality and PrivLeak need from the retain model's own evaluation."""

    forget_truth_ratios: list[float]
    mia_auc: dict[str, float | None]
    same_forget_set: bool = True  # False: it covers more questions, so its AUC does not compare
    examples: dict[str, dict[str, dict]] | None = None  # role -> question -> its per-example values


def summarize(results: dict[str, SplitResult], retain_model: RetainModelEval | None,
              no_retain_reason: str = "no --retain-eval given") -> tuple[dict, dict]:
    """``(metrics, not_computed)`` for the whole model."""
    metrics: dict[str, float | None] = {}
    reasons: dict[str, str] = {}

    def put(name: str, value: float, reason: str) -> None:
        metrics[name] = value if math.isfinite(value) else None
        if not math.isfinite(value):
            reasons[name] = reason

    means = {role: result.metrics for role, result in results.items()}
    put("model_utility_tofu", *_utility(means, TOFU_UTILITY_METRICS))
    put("model_utility_seed_paper", *_utility(means, SEED_PAPER_UTILITY_METRICS))
    put("forget_efficacy", *_forget_efficacy(means))
    put("forget_quality", *_forget_quality(results, retain_model, no_retain_reason))
    aucs = _membership_aucs(results)
    for attack in MIA_ATTACKS:
        put(f"mia_auc_{attack}", *aucs[attack])
    for attack in MIA_ATTACKS:
        put(f"priv_leak_{attack}", *_priv_leak(aucs[attack][0], retain_model, attack, no_retain_reason))
    return metrics, reasons


# Model-level numbers that are functions of split averages: the splits and the averages they read.
DERIVED = {"model_utility_tofu": (UTILITY_ROLES, TOFU_UTILITY_METRICS),
           "model_utility_seed_paper": (UTILITY_ROLES, SEED_PAPER_UTILITY_METRICS),
           "forget_efficacy": (("forget",), FORGET_EFFICACY_METRICS)}


def roles_read(group: str, name: str) -> tuple[str, ...]:
    """The splits a number is computed from: ``group`` is a split role or ``overall``."""
    return DERIVED[name][0] if group == "overall" else (group,)


def value_from_columns(columns: dict[str, dict[str, np.ndarray]], group: str, name: str,
                       indices: dict[str, np.ndarray] | None = None) -> float:
    """A split average (``group`` = its role) or a derived model-level number, from per-example
    columns (``evaluator.metric_columns``), on the examples ``indices`` picks per split (all if None)."""
    def mean(role: str, metric: str) -> float:
        column = columns[role][metric]
        return finite_mean(column if indices is None else column[indices[role]])

    if group != "overall":
        return mean(group, name)
    roles, metrics = DERIVED[name]
    means = {role: {m: mean(role, m) for m in metrics} for role in roles}
    return (_forget_efficacy(means) if name == "forget_efficacy" else _utility(means, metrics))[0]


def resampled_interval(columns: dict[str, dict[str, np.ndarray]], group: str, name: str,
                       options: dict) -> list[float] | None:
    """Bootstrap interval of ``value_from_columns``: each split read is resampled on its own."""
    roles = roles_read(group, name)
    samples = [np.arange(len(next(iter(columns[role].values())))) for role in roles]
    found = bootstrap_interval(samples, lambda *idx: value_from_columns(
        columns, group, name, {role: i.astype(int) for role, i in zip(roles, idx)}), **options)
    return list(found) if found else None


def model_intervals(results: dict[str, SplitResult], metrics: dict, retain_model: RetainModelEval | None,
                    options: dict) -> dict[str, list[float] | None]:
    """Bootstrap intervals of the computed model-level numbers (forget quality, a p-value, has none).
    PrivLeak's resamples both models' per-example scores, paired by question (``_priv_leak_interval``)."""
    columns = {role: metric_columns(result.split, result.examples) for role, result in results.items()}
    intervals = {name: resampled_interval(columns, "overall", name, options)
                 for name in DERIVED if metrics.get(name) is not None}
    for attack in MIA_ATTACKS:
        name = f"mia_auc_{attack}"
        if metrics.get(name) is None:
            continue
        members, others = (_scores(results[role].examples, f"mia_{attack}") for role in ("forget", "holdout"))
        found = auc_interval(members, others, **options)
        intervals[name] = list(found) if found else None
        if metrics.get(f"priv_leak_{attack}") is not None:
            intervals[f"priv_leak_{attack}"] = _priv_leak_interval(results, retain_model, attack, options)
    return intervals


def _priv_leak_interval(results: dict[str, SplitResult], retain_model: RetainModelEval, attack: str,
                        options: dict) -> list[float] | None:
    """Joint bootstrap of PrivLeak over the questions both models scored: each resample draws forget
    and holdout questions once and recomputes both models' AUCs (None without the retain model's
    per-example scores)."""
    if not retain_model.examples:
        return None
    key, columns = f"mia_{attack}", []
    for role in ("forget", "holdout"):
        theirs = retain_model.examples.get(role, {})
        pairs = [(e.get(key, math.nan), theirs.get(e.get("question"), {}).get(key, math.nan))
                 for e in results[role].examples]
        columns.append([pair for pair in pairs if all(map(math.isfinite, pair))])
    forget, holdout = columns
    if not forget or not holdout:
        return None
    found = priv_leak_interval([a for a, _ in forget], [a for a, _ in holdout], [b for _, b in forget],
                               [b for _, b in holdout], paired=True, **options)
    return list(found) if found else None


def forget_quality_examples(results: dict[str, SplitResult], retain_model: RetainModelEval | None) -> dict | None:
    """How many forget truth ratios the KS test of forget quality compares (None: not computed)."""
    if retain_model is None or "forget" not in results:
        return None
    ours = sum(1 for v in results["forget"].examples if "truth_ratio" in v)
    return {"model": ours, "retain_model": len(retain_model.forget_truth_ratios),
            "enough": min(ours, len(retain_model.forget_truth_ratios)) >= FORGET_QUALITY_MIN_EXAMPLES}


def _scores(examples: list[dict], key: str) -> list[float]:
    return [v[key] for v in examples if math.isfinite(v.get(key, math.nan))]


def _utility(means: dict[str, dict], names: tuple[str, ...]) -> tuple[float, str]:
    """Harmonic mean over the utility splits (retain, real authors, world facts) x ``names``;
    ``means`` maps a split role to its averages."""
    values = []
    for role in UTILITY_ROLES:
        if role not in means:
            return math.nan, f"split '{role}' was not evaluated"
        for name in names:
            value = means[role].get(name)
            if value is None:
                return math.nan, f"{role} {name} not computed"
            values.append(value)
    return harmonic_mean(values), ""


def _forget_efficacy(means: dict[str, dict]) -> tuple[float, str]:
    """Seed paper: ``1 - mean`` of the forget split's ROUGE-L, probability, truth ratio, CS, ES.

    Its truth ratio on the forget split is ``1 - mean min(R, 1/R)``, the complement of TOFU's
    forget truth ratio, so every ingredient grows with remaining knowledge."""
    if "forget" not in means:
        return math.nan, "forget split was not evaluated"
    forget = means["forget"]
    missing = [n for n in FORGET_EFFICACY_METRICS if forget.get(n) is None or not math.isfinite(forget[n])]
    if missing:
        return math.nan, f"forget {', '.join(missing)} not computed"
    rouge, prob, tofu_ratio, cosine, entail = (forget[n] for n in FORGET_EFFICACY_METRICS)
    return forget_efficacy([rouge, prob, 1.0 - tofu_ratio, cosine, entail]), ""


def _forget_quality(results, retain_model: RetainModelEval | None, no_retain_reason: str) -> tuple[float, str]:
    if retain_model is None:
        return math.nan, no_retain_reason
    ratios = [v["truth_ratio"] for v in results["forget"].examples if "truth_ratio" in v]
    if not ratios or not retain_model.forget_truth_ratios:
        return math.nan, "no valid forget truth ratios"
    return forget_quality(ratios, retain_model.forget_truth_ratios), ""


def _membership_aucs(results: dict[str, SplitResult]) -> dict[str, tuple[float, str]]:
    """AUC of telling forget (members) from holdout (non-members) by each attack's score."""
    if "holdout" not in results:
        return {a: (math.nan, "no holdout split evaluated") for a in MIA_ATTACKS}
    aucs = {}
    for attack in MIA_ATTACKS:
        key = f"mia_{attack}"
        members, others = _scores(results["forget"].examples, key), _scores(results["holdout"].examples, key)
        aucs[attack] = (auc(members, others), "") if members and others else (math.nan, "no valid scores")
    return aucs


def _priv_leak(auc_value: float, retain_model: RetainModelEval | None, attack: str,
               no_retain_reason: str) -> tuple[float, str]:
    if retain_model is None:
        return math.nan, no_retain_reason
    if not retain_model.same_forget_set:
        return math.nan, "the retain eval covers a larger forget set, so its membership AUC does not compare"
    reference = retain_model.mia_auc.get(f"mia_auc_{attack}")
    if reference is None or not math.isfinite(auc_value):
        return math.nan, "membership AUC missing for this model or the retain model"
    return (priv_leak(to_muse_auc(auc_value), to_muse_auc(reference)),
            "the retain model's AUC is 1 (0 in MUSE's orientation), so PrivLeak is undefined")
