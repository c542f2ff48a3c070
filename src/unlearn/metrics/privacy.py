"""Membership-inference scores, their AUC, PrivLeak, and memorization of answer tokens."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import stats

from unlearn.metrics.uncertainty import bootstrap_interval


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
    member: ``P(score_member < score_nonmember)``, ties counting one half (Mann-Whitney U;
    ``rank_auc`` computes it).

    open-unlearning's orientation (its ``mia_*`` AUCs): 1 = the members stand out, 0.5 = chance.
    MUSE's AUC is the other way round; ``to_muse_auc`` converts."""
    return float(rank_auc(member_scores, nonmember_scores))


def rank_auc(member_scores, nonmember_scores, axis: int = -1) -> np.ndarray:
    """``auc`` of every row at once: the scores lie along ``axis``, the other axes broadcast and give
    one AUC each, so a bootstrap scores all its resamples in one call (scipy's ``vectorized``
    statistic) rather than one Mann-Whitney test, with its input checks, per resample.

    With a row's ``n1`` member and ``n0`` non-member scores ranked together (1 = lowest, tied scores
    sharing their average rank) and ``R0`` the non-members' rank sum,
    ``U = R0 - n0 (n0 + 1) / 2`` counts the (member, non-member) pairs with member < non-member,
    ties one half, and ``AUC = U / (n1 n0)``. The ranks are multiples of 1/2, so ``U`` is exact:
    the same number as ``scipy.stats.mannwhitneyu(nonmember, member).statistic``. A row with a nan
    score is nan (and so is an empty side)."""
    member = np.moveaxis(np.asarray(member_scores, dtype=float), axis, -1)
    nonmember = np.moveaxis(np.asarray(nonmember_scores, dtype=float), axis, -1)
    rows = np.broadcast_shapes(member.shape[:-1], nonmember.shape[:-1])
    n1, n0 = member.shape[-1], nonmember.shape[-1]
    ranks = stats.rankdata(np.concatenate([np.broadcast_to(nonmember, rows + (n0,)),
                                           np.broadcast_to(member, rows + (n1,))], axis=-1), axis=-1)
    with np.errstate(invalid="ignore"):  # an empty side: 0 / 0
        return (ranks[..., :n0].sum(axis=-1) - n0 * (n0 + 1) / 2) / np.float64(n1 * n0)


def auc_interval(member_scores: list[float], nonmember_scores: list[float], *, muse: bool = False,
                 **options) -> tuple[float, float] | None:
    """Bootstrap interval of ``auc`` (of ``muse_auc`` with ``muse``): each side resampled on its own,
    all resamples scored in one ``rank_auc`` call. The resamples are those of a per-resample
    statistic (``bootstrap_interval`` draws the same indices either way), so is the interval."""
    def statistic(member, nonmember, axis=-1):
        value = rank_auc(member, nonmember, axis)
        return to_muse_auc(value) if muse else value

    return bootstrap_interval([member_scores, nonmember_scores], statistic, vectorized=True, **options)


def to_muse_auc(member_auc: float) -> float:
    """``1 - AUC``: an ``auc`` above turned into MUSE's orientation, ``P(score_nonmember < score_member)``
    (MUSE's ``metrics/privleak.py`` labels the forget texts 0 and scores by ``-score``). There a
    model that memorized its forget set has AUC near 0, one that never saw it about 0.5. The
    only place the orientation changes; ties stay one half (sklearn's trapezoid rule)."""
    return 1.0 - member_auc


def muse_auc(member_scores: list[float], nonmember_scores: list[float]) -> float:
    """MUSE's AUC of member (forget) against non-member (holdout) scores: ``to_muse_auc(auc(...))``."""
    return to_muse_auc(auc(member_scores, nonmember_scores))


def priv_leak(muse_auc_unlearned: float | np.ndarray, muse_auc_retrained: float | np.ndarray) -> float | np.ndarray:
    """MUSE PrivLeak **in percent**: ``100 * (AUC_unlearned - AUC_retrained) / AUC_retrained``, both
    AUCs in MUSE's orientation (``to_muse_auc``). 0 is ideal; a model that still knows its forget
    set is near -100 (under-unlearned), an over-unlearned one is positive. As MUSE's ``eval.py``;
    open-unlearning flips its AUCs (``1 - x``) before the same ratio, which is the same number.
    nan (undefined) where the retrained model's AUC is 0. A float from two numbers; from arrays
    (a bootstrap's resamples), the array of their PrivLeaks."""
    unlearned, retrained = np.asarray(muse_auc_unlearned, dtype=float), np.asarray(muse_auc_retrained, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(retrained == 0, np.nan, 100.0 * (unlearned - retrained) / retrained)
    return float(value) if value.ndim == 0 else value


def priv_leak_interval(member: list[float], holdout: list[float], reference_member: list[float],
                       reference_holdout: list[float], paired: bool, **options) -> tuple[float, float] | None:
    """Bootstrap interval of PrivLeak with **both** models' AUCs recomputed on every resample.

    The scores are per text, lower = more member-like (Min-K%, LOSS, ...). ``paired``: the two
    models scored the same texts in the same order, so each resample draws forget and holdout
    texts once and both models' AUCs use the drawn texts; otherwise the four samples are
    resampled independently. All resamples are scored at once (``rank_auc``). None when no
    interval can be estimated."""
    arrays = [np.asarray(a, dtype=float) for a in (member, holdout, reference_member, reference_holdout)]

    def from_scores(m, h, rm, rh, axis=-1):
        return priv_leak(to_muse_auc(rank_auc(m, h, axis)), to_muse_auc(rank_auc(rm, rh, axis)))

    if not paired:
        return bootstrap_interval(arrays, from_scores, vectorized=True, **options)
    m, h, rm, rh = arrays
    if len(m) != len(rm) or len(h) != len(rh):
        raise ValueError("paired PrivLeak scores need the same texts for both models")

    def from_indices(forget_rows, holdout_rows, axis=-1):
        fi, hi = (np.moveaxis(rows, axis, -1).astype(int) for rows in (forget_rows, holdout_rows))
        return from_scores(m[fi], h[hi], rm[fi], rh[hi])

    return bootstrap_interval([np.arange(len(m)), np.arange(len(h))], from_indices, vectorized=True, **options)


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
