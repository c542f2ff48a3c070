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


@lru_cache(maxsize=1)
def _rwku_scorer():
    from rouge import Rouge

    return Rouge(metrics=["rouge-l"], stats=["r"])


def rwku_rouge_l_recall(generation: str, reference: str) -> float:
    """RWKU's probe score: ROUGE-L recall ``r`` of the ``rouge`` package (pltrdy), as RWKU's
    ``eval_forget.py`` calls it on the stripped answer (an empty one becomes ``NOANSWER``).

    That package splits each text into sentences at ``.``, then into words at spaces: case kept,
    punctuation attached to its word ("Paris," is not "Paris"). Recall is the summary-level union
    LCS over the reference's *distinct* words: ``R = |union_i LCS(r_i, C)| / |set(words(ref))|``,
    words counted as sets. A generation with no sentence left (``"..."``), on which the package
    raises, scores 0: nothing of the reference was said."""
    generation = generation.strip() or "NOANSWER"
    try:
        return float(_rwku_scorer().get_scores(generation, reference)[0]["rouge-l"]["r"])
    except ValueError:  # "Collections must contain at least 1 sentence."
        return 0.0


def fluency_entropy(tokens: list[str], orders: tuple[int, ...] = (2, 3),
                    weights: tuple[float, ...] = (2 / 3, 4 / 3)) -> float:
    """RWKU's fluency (ROME's n-gram entropy) of one generation's word tokens:
    ``mean_n w_n H_n`` with ``H_n = -sum_g f(g) log2 f(g)`` over the frequencies f of its n-grams,
    n = 2 and 3 weighted 2/3 and 4/3. An order with no n-gram (a text too short) adds 0, as the
    empty sum in RWKU's code does. RWKU's tables print it times 100."""
    values = []
    for n, weight in zip(orders, weights, strict=True):
        grams = Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
        total = sum(grams.values())
        values.append(weight * -sum(c / total * math.log2(c / total) for c in grams.values()))
    return sum(values) / len(values)


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


def refusal_openings(refusals: list[str]) -> tuple[str, ...]:
    """The phrases as an answer's opening is compared with them: lower case, a final ``.`` / ``!`` dropped."""
    return tuple(dict.fromkeys(r.lower().rstrip(".!") for r in refusals))


def opens_with_refusal(generation: str, openings: tuple[str, ...]) -> bool:
    """Whether the answer opens with one of ``openings`` (``refusal_openings``), case ignored."""
    return generation.lower().lstrip().startswith(openings) if openings else False


def refusal_rate(generations: list[str], refusals: list[str]) -> float:
    """Share of answers that open with a refusal phrase:
    ``mean_i [gen_i.lower() starts with some r.lower()]`` (trailing ``.`` / ``!`` of ``r`` ignored).

    Targeted unlearning (IDK+GD, IDK+AP) should refuse on forget questions only; a high rate on
    retain questions is the over-refusal that answer preservation is meant to prevent."""
    openings = refusal_openings(refusals)
    return sum(opens_with_refusal(g, openings) for g in generations) / len(generations)
