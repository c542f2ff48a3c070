"""Faithfulness of a metric: how well its values separate models that know the forget data from models that don't.

OpenUnlearning (arXiv 2506.12618, Section 4.1, "Faithfulness") builds a positive pool of models trained on the
forget data and a negative pool of models that never saw it, and scores a metric by the area under the ROC curve
of its values as a classifier between the two pools. An AUC of 1 means every positive model scores as knowing more
than every negative one; 0.5 means the metric cannot tell them apart.
"""

import math
from collections.abc import Iterable, Mapping

from unlearn.errors import UserError

DIRECTIONS = ("higher", "lower")


class MetaEvalError(UserError, ValueError):
    """Bad input to the meta-evaluation: an empty pool, a missing value, an unknown direction. One line."""


def check_direction(direction: str) -> str:
    """The direction itself, refused unless it says which way means more knowledge ("higher" or "lower")."""
    if direction not in DIRECTIONS:
        raise MetaEvalError(f"direction must be 'higher' or 'lower' (the way to more knowledge), not {direction!r}")
    return direction


def oriented(value: float, direction: str) -> float:
    """The value on a scale where higher means more knowledge of the forget data.

    Metrics disagree on their direction (a probability rises with knowledge, a loss falls), so every score here
    is computed on ``s = m`` for ``direction == "higher"`` and ``s = -m`` for ``"lower"``.
    """
    return float(value) if check_direction(direction) == "higher" else -float(value)


def faithfulness(positives: Iterable[float], negatives: Iterable[float], direction: str = "higher") -> float:
    """The AUC with which a metric's values rank models that know the forget data above models that never saw it.

    With ``s`` the oriented value (``oriented``), ``P`` the positive pool (models that know the forget data) and
    ``N`` the negative pool (models that never saw it), as in arXiv 2506.12618, Section 4.1::

        AUC = 1 / (|P| |N|) * sum_{p in P} sum_{n in N} ( [s_p > s_n] + 1/2 [s_p = s_n] )

    This is the area under the ROC curve of the metric as a classifier (the Mann-Whitney U of the positives over
    ``|P| |N|``); ties count one half, so a metric that gives every model the same value scores 0.5. It is the
    membership AUC's statistic with the negatives in the members' place (``privacy.rank_auc``: P(member <
    non-member)), imported here so that loading the settings does not load numpy and scipy. A value that is
    not a number is refused: it would lose every comparison, a verdict nobody measured.
    """
    pos = [oriented(v, direction) for v in positives]
    neg = [oriented(v, direction) for v in negatives]
    if not pos or not neg:
        raise MetaEvalError(
            f"faithfulness needs at least one model on each side: {len(pos)} that know the forget data, "
            f"{len(neg)} that never saw it")
    if any(math.isnan(v) for v in pos + neg):
        raise MetaEvalError("faithfulness needs a number for every model, got nan")
    from unlearn.metrics.privacy import rank_auc

    return float(rank_auc(neg, pos))


def split_pool(values: Mapping[str, float], knows: Mapping[str, bool], metric: str) -> tuple[list[float], list[float]]:
    """A metric's values on the labelled models, split into (positives, negatives) by ``knows``.

    Every labelled model must have a value: a pool with holes would silently score a different pool per metric.
    """
    missing = sorted(set(knows) - set(values))
    if missing:
        raise MetaEvalError(f"metric {metric!r} has no value for model(s) {', '.join(missing)}")
    positives = [values[m] for m in knows if knows[m]]
    negatives = [values[m] for m in knows if not knows[m]]
    return positives, negatives
