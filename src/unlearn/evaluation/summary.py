"""Model-level numbers from the split results: utility, forget efficacy, forget quality, privacy.

Every number is either computed or listed in ``not_computed`` with the reason; a missing
ingredient never turns into a 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from unlearn.evaluation.evaluator import SplitResult
from unlearn.evaluation.splits import UTILITY_ROLES
from unlearn.metrics.likelihood import forget_efficacy, forget_quality, harmonic_mean
from unlearn.metrics.privacy import auc, priv_leak

TOFU_UTILITY_METRICS = ("rougeL_recall", "probability", "truth_ratio")
SEED_PAPER_UTILITY_METRICS = TOFU_UTILITY_METRICS + ("token_entropy", "cosine_similarity", "entailment_score")
MIA_ATTACKS = ("loss", "zlib", "min_k", "min_k_plus_plus")


@dataclass(frozen=True)
class RetainModelEval:
    """What forget quality and PrivLeak need from the retain model's own evaluation."""

    forget_truth_ratios: list[float]
    mia_auc: dict[str, float | None]
    same_forget_set: bool = True  # False: it covers more questions, so its AUC does not compare


def summarize(results: dict[str, SplitResult], retain_model: RetainModelEval | None,
              no_retain_reason: str = "no --retain-eval given") -> tuple[dict, dict]:
    """``(metrics, not_computed)`` for the whole model."""
    metrics: dict[str, float | None] = {}
    reasons: dict[str, str] = {}

    def put(name: str, value: float, reason: str) -> None:
        metrics[name] = value if math.isfinite(value) else None
        if not math.isfinite(value):
            reasons[name] = reason

    put("model_utility_tofu", *_utility(results, TOFU_UTILITY_METRICS))
    put("model_utility_seed_paper", *_utility(results, SEED_PAPER_UTILITY_METRICS))
    put("forget_efficacy", *_forget_efficacy(results))
    put("forget_quality", *_forget_quality(results, retain_model, no_retain_reason))
    aucs = _membership_aucs(results)
    for attack in MIA_ATTACKS:
        put(f"mia_auc_{attack}", *aucs[attack])
    for attack in MIA_ATTACKS:
        put(f"priv_leak_{attack}", *_priv_leak(aucs[attack][0], retain_model, attack, no_retain_reason))
    return metrics, reasons


def _utility(results: dict[str, SplitResult], names: tuple[str, ...]) -> tuple[float, str]:
    """Harmonic mean over the utility splits (retain, real authors, world facts) x ``names``."""
    values = []
    for role in UTILITY_ROLES:
        if role not in results:
            return math.nan, f"split '{role}' was not evaluated"
        for name in names:
            value = results[role].metrics.get(name)
            if value is None:
                return math.nan, f"{role} {name} not computed"
            values.append(value)
    return harmonic_mean(values), ""


def _forget_efficacy(results: dict[str, SplitResult]) -> tuple[float, str]:
    """Seed paper: ``1 - mean`` of the forget split's ROUGE-L, probability, truth ratio, CS, ES.

    Its truth ratio on the forget split is ``1 - mean min(R, 1/R)``, the complement of TOFU's
    forget truth ratio, so every ingredient grows with remaining knowledge."""
    if "forget" not in results:
        return math.nan, "forget split was not evaluated"
    forget = results["forget"].metrics
    names = ("rougeL_recall", "probability", "truth_ratio", "cosine_similarity", "entailment_score")
    missing = [n for n in names if forget.get(n) is None]
    if missing:
        return math.nan, f"forget {', '.join(missing)} not computed"
    rouge, prob, tofu_ratio, cosine, entail = (forget[n] for n in names)
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
        members = [v[key] for v in results["forget"].examples if math.isfinite(v.get(key, math.nan))]
        others = [v[key] for v in results["holdout"].examples if math.isfinite(v.get(key, math.nan))]
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
    return priv_leak(auc_value, reference), "the retain model's AUC is 0, so PrivLeak is undefined"
