"""Semantic metrics of the seed paper: cosine similarity and entailment score."""

from __future__ import annotations

import math

import numpy as np


def cosine_score(u, v) -> float:
    """``max(0, cos(u, v))`` for two embeddings; nan when either is the zero vector (undefined)."""
    u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    norms = np.linalg.norm(u) * np.linalg.norm(v)
    if norms == 0:
        return math.nan
    return max(0.0, float(u @ v / norms))


def entailment_terms(entailed: list[bool], rouge_l_recall: list[float], min_rouge: float = 0.1) -> list[float]:
    """Per-pair terms of the entailment score: ``1`` if entailed and ``rougeL >= min_rouge``, else ``0``."""
    if len(entailed) != len(rouge_l_recall):
        raise ValueError(f"{len(entailed)} entailment labels but {len(rouge_l_recall)} ROUGE values")
    return [float(bool(e) and r >= min_rouge) for e, r in zip(entailed, rouge_l_recall)]


def entailment_score(entailed: list[bool], rouge_l_recall: list[float], min_rouge: float = 0.1) -> float:
    """Share of pairs the NLI model labels entailment, ``mean_i [entailed_i and rougeL_i >= min_rouge]``.

    The seed paper counts a pair whose ROUGE-L recall is below 0.1 as not entailed: an answer
    that shares almost no words with the reference is taken as factually wrong. nan when empty.
    """
    terms = entailment_terms(entailed, rouge_l_recall, min_rouge)
    return sum(terms) / len(terms) if terms else math.nan
