"""Robustness of a metric: how far its verdict moves when an attack changes the model, not its knowledge.

OpenUnlearning (arXiv 2506.12618, Section 4.1, "Robustness", Eqs. 2-4) attacks unlearned models in two ways and
scores each metric per model, then combines the averages with a harmonic mean. Values are "before" (the model as
unlearning left it) and "after" (the same model after the attack). The paper writes the metric so that higher
means more knowledge; ``direction`` below applies that orientation where it matters.
"""

from collections.abc import Iterable

from unlearn.metaeval.faithfulness import MetaEvalError, check_direction


def relearning_robustness(unlearned_before: float, unlearned_after: float,
                          retain_before: float, retain_after: float) -> float:
    """R for one unlearned model: the retain model's change under relearning over the unlearned model's (Eq. 2).

    Both models are fine-tuned briefly on the forget data. A model that truly lost the knowledge should relearn it
    no faster than the retain model, which never had it; a metric that called a merely suppressed model
    "unlearned" sees it jump back further. arXiv 2506.12618, Section 4.1, Eq. 2::

        r = (m_ret_after - m_ret_before) / (m_unl_after - m_unl_before),    R = min(r, 1)

    The ratio is the same for either orientation of the metric (both changes flip sign), so no direction is
    needed. Where the unlearned model's value does not move at all the ratio is undefined; the metric's verdict
    then did not move under the attack, which is the robust outcome the cap at 1 stands for, so R = 1 (our
    convention: the paper does not say). The paper caps only from above: a negative r (the two models moved in
    opposite directions) is kept as it is.
    """
    unlearned_change = float(unlearned_after) - float(unlearned_before)
    retain_change = float(retain_after) - float(retain_before)
    if unlearned_change == 0.0:
        return 1.0
    return min(retain_change / unlearned_change, 1.0)


def quantization_robustness(before: float, after: float, direction: str = "higher") -> float:
    """Q for one unlearned model: the share of the metric's knowledge reading that survives 4-bit quantization (Eq. 3).

    Quantization is known to bring unlearned knowledge back, not to remove it, so a knowledge metric should not
    read less knowledge after it; a drop measures damage, not knowledge. arXiv 2506.12618, Section 4.1, Eq. 3,
    for a metric where higher means more knowledge::

        Q = min(m_after / m_before, 1)

    For a metric where lower means more knowledge (a loss) the same reading is ``min(m_before / m_after, 1)``.
    The ratio needs a ratio scale, so values must be non-negative; a zero denominator with a non-negative
    numerator is an unbounded ratio, capped at 1.
    """
    check_direction(direction)
    before, after = float(before), float(after)
    if before < 0 or after < 0:
        raise MetaEvalError(f"quantization robustness needs non-negative metric values, got {before} and {after}")
    numerator, denominator = (after, before) if direction == "higher" else (before, after)
    if denominator == 0.0:
        return 1.0
    return min(numerator / denominator, 1.0)


def harmonic_mean(values: Iterable[float]) -> float:
    """The harmonic mean, which the paper uses to combine scores so that one low score drags the whole down (Eq. 4).

    ``HM(x_1..x_k) = k / sum_i (1 / x_i)``. It is defined for positive values; a zero or negative score (a
    metric that fails one test outright) gives 0, the limit as that score falls to 0.
    """
    xs = [float(v) for v in values]
    if not xs:
        raise MetaEvalError("harmonic mean of no scores")
    if any(x <= 0.0 for x in xs):
        return 0.0
    return len(xs) / sum(1.0 / x for x in xs)


def mean(values: Iterable[float]) -> float:
    """The arithmetic mean over the attacked models, refusing an empty list rather than returning NaN."""
    xs = [float(v) for v in values]
    if not xs:
        raise MetaEvalError("no attacked models to average over")
    return sum(xs) / len(xs)


def robustness(relearning_scores: Iterable[float], quantization_scores: Iterable[float]) -> float:
    """A metric's robustness: the harmonic mean of its mean R and mean Q over the attacked models (Eq. 4).

    arXiv 2506.12618, Section 4.1, Eq. 4: ``Robustness = HM(mean_i R_i, mean_j Q_j)``.
    """
    return harmonic_mean([mean(relearning_scores), mean(quantization_scores)])
