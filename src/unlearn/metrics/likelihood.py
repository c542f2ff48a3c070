"""Metrics from answer negative log-likelihoods: probability, truth ratio, forget quality."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def probability(nll_mean: float) -> float:
    """Forget/retain probability of an answer: ``exp(-nll(y|x))`` (token-mean NLL)."""
    return math.exp(-nll_mean)


def normalized_probability(nll_answer: float, nll_options: list[float]) -> float:
    """Real-authors / world-facts probability: ``p(y) / (p(y) + sum_k p(y_k))`` with ``p = exp(-nll)``."""
    p = math.exp(-nll_answer)
    return p / (p + sum(math.exp(-n) for n in nll_options))


def truth_ratio(nll_paraphrased: float, nll_perturbed: list[float]) -> float:
    """``R = exp(mean_k nll(y_pert_k) - nll(y_para))``: above 1 when the paraphrase is likelier
    than the wrong answers (per-token likelihoods, geometric mean over the wrong answers)."""
    return math.exp(float(np.mean(nll_perturbed)) - nll_paraphrased)


def truth_ratio_terms(ratios: list[float], split_kind: str) -> np.ndarray:
    """Per-example terms of the truth-ratio score: forget split ``min(R, 1/R)``, other splits
    ``max(0, 1 - 1/R)``."""
    r = np.asarray(ratios, dtype=float)
    if split_kind == "forget":
        return np.minimum(r, 1.0 / r)
    return np.maximum(0.0, 1.0 - 1.0 / r)


def truth_ratio_score(ratios: list[float], split_kind: str) -> float:
    """Forget split: ``mean min(R, 1/R)`` (1 = cannot tell right from wrong);
    other splits: ``mean max(0, 1 - 1/R)`` (1 = strongly prefers the truth)."""
    return float(np.mean(truth_ratio_terms(ratios, split_kind)))


def forget_quality(unlearned_ratios: list[float], retain_model_ratios: list[float]) -> float:
    """KS two-sample test p-value between the per-example forget truth ratios of the unlearned
    model and of the model trained on retain data only (high = indistinguishable)."""
    return float(stats.ks_2samp(unlearned_ratios, retain_model_ratios).pvalue)


def harmonic_mean(values: list[float]) -> float:
    """Model utility: harmonic mean; 0 if any value is 0; nan (not computed) if any value is nan."""
    array = np.asarray(values, dtype=float)
    if np.isnan(array).any():
        return math.nan
    if (array <= 0).any():
        return 0.0
    return float(stats.hmean(array))


def forget_efficacy(forget_scores: list[float]) -> float:
    """Seed paper's FE: ``1 - mean(forget ROUGE, probability, truth ratio, CS, ES)`` (nan if any is nan)."""
    return 1.0 - float(np.mean(forget_scores))
