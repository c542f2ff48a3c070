"""Membership-inference scores, their AUC, PrivLeak, and memorization of answer tokens."""

from __future__ import annotations

import math
import zlib

import numpy as np
from scipy import stats


def loss_score(nll_mean: float) -> float:
    """LOSS attack: the token-mean NLL (members tend to score lower)."""
    return nll_mean


def zlib_score(nll_mean: float, text: str) -> float:
    """zlib attack (Carlini et al. 2021): ``nll_mean / len(zlib.compress(text.encode("utf-8")))``,
    the token-mean NLL over the text's zlib-compressed length in bytes, as open-unlearning's and
    MUSE's code compute it."""
    return nll_mean / len(zlib.compress(text.encode("utf-8")))


def min_k_score(token_logprobs: list[float], k: float = 0.2) -> float:
    """Min-K%: ``-mean`` of the ``max(1, int(k * n))`` lowest of the ``n`` token log-probs.

    The count is truncated (floor), as open-unlearning's code (``mia_min_k``) counts; MUSE's code
    can select zero tokens, we keep at least one. Returned negated so that, like LOSS, a lower
    score means "more likely a member"."""
    values = np.sort(np.asarray(token_logprobs, dtype=float))
    count = max(1, int(k * len(values)))
    return -float(values[:count].mean())


def min_k_plus_plus_score(token_logprobs: list[float], means: list[float], stds: list[float],
                          k: float = 0.2) -> float:
    """Min-K%++: Min-K% on ``(log p_t - mu_t) / sigma_t``, where ``mu_t`` and ``sigma_t`` are the mean
    and standard deviation of ``log p`` over the vocabulary under the model's own distribution at t
    (the same count of tokens, ``max(1, int(k * n))``)."""
    z = (np.asarray(token_logprobs) - np.asarray(means)) / np.asarray(stds)
    return min_k_score(z.tolist(), k)


def auc(member_scores: list[float], nonmember_scores: list[float]) -> float:
    """Area under the ROC curve for telling members from non-members when a *lower* score means
    member: ``P(score_member < score_nonmember)``, ties counting one half (Mann-Whitney U)."""
    u = stats.mannwhitneyu(nonmember_scores, member_scores, alternative="two-sided").statistic
    return float(u) / (len(member_scores) * len(nonmember_scores))


def priv_leak(auc_unlearned: float, auc_retain_model: float) -> float:
    """MUSE PrivLeak: ``(AUC_unlearned - AUC_retain) / AUC_retain``; near 0 is ideal.
    nan (undefined) when the retain model's AUC is 0."""
    if auc_retain_model == 0:
        return math.nan
    return (auc_unlearned - auc_retain_model) / auc_retain_model


def exact_memorization(predicted: list[int], target: list[int]) -> float:
    """Share of answer tokens that the teacher-forced argmax predicts exactly."""
    return float(np.mean([p == t for p, t in zip(predicted, target, strict=True)]))


def extraction_strength(predicted: list[int], target: list[int]) -> float:
    """``1 - k/n`` for the smallest prefix length k after which every teacher-forced argmax matches
    the answer (1 = whole answer recovered from the prompt alone, 0 = not even the last token)."""
    n = len(target)
    for k in range(n + 1):
        if all(p == t for p, t in zip(predicted[k:], target[k:])):
            return 1.0 - k / n
    return 0.0
