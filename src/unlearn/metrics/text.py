"""Metrics on generated text: ROUGE against the reference answer, and token entropy."""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)


@lru_cache(maxsize=1)
def _scorer_without_stemmer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l_f1(generation: str, reference: str) -> float:
    """ROUGE-L F1 of ``generation`` against ``reference``, stemmer off: MUSE's VerbMem and KnowMem
    score, ``2 P R / (P + R)`` with P, R the longest common subsequence's share of the generation's
    and the reference's tokens (0 when either has none)."""
    return _scorer_without_stemmer().score(reference, generation)["rougeL"].fmeasure


def rouge_l_recall_unstemmed(generation: str, reference: str) -> float:
    """ROUGE-L recall, stemmer off (RWKU's probe score): the longest common subsequence's share of
    the reference's tokens."""
    return _scorer_without_stemmer().score(reference, generation)["rougeL"].recall


def rouge_recall(generation: str, reference: str) -> dict[str, float]:
    """ROUGE-1 and ROUGE-L *recall* of ``reference`` by ``generation`` (rouge_score, stemmer on)."""
    scores = _scorer().score(reference, generation)
    return {"rouge1_recall": scores["rouge1"].recall, "rougeL_recall": scores["rougeL"].recall}


def token_entropy(tokens: list) -> float:
    """Normalized unigram entropy of a generation (seed paper's TE):
    ``-sum_w f(w) log2 f(w) / log2 n`` for n tokens with frequencies f; 0 when n <= 1.

    1 means no token repeats; a collapsed, repetitive answer scores near 0.
    """
    n = len(tokens)
    if n <= 1:
        return 0.0
    counts = Counter(tokens)
    entropy = -sum((c / n) * math.log2(c / n) for c in counts.values())
    return entropy / math.log2(n)


def refusal_rate(generations: list[str], refusals: list[str]) -> float:
    """Share of answers that open with a refusal phrase:
    ``mean_i [gen_i.lower() starts with some r.lower()]`` (trailing ``.`` / ``!`` of ``r`` ignored).

    Targeted unlearning (IDK+GD, IDK+AP) should refuse on forget questions only; a high rate on
    retain questions is the over-refusal that answer preservation is meant to prevent."""
    openings = {r.lower().rstrip(".!") for r in refusals}
    return sum(any(g.lower().startswith(o) for o in openings) for g in generations) / len(generations)
