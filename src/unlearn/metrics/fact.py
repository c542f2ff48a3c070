"""Fact accuracy: does the greedy answer state the record's key fact?

Templated answers ("X was born in Y.") reach a high ROUGE-L recall while Y is still wrong,
so on generated benchmarks the key fact is the honest signal of memorization.
"""

from __future__ import annotations

import math


def contains_fact(generation: str, fact: str) -> bool:
    """``fact.lower() in generation.lower()`` (whitespace at the ends of ``fact`` ignored)."""
    return fact.strip().lower() in generation.lower()


def fact_accuracy(generations: list[str], facts: list[str | None]) -> float:
    """Share of generations containing their fact: ``mean_i [fact_i in gen_i]`` over records with a fact.

    Returns ``nan`` when no record carries a fact: the metric is then not computed, not zero.
    """
    hits = [contains_fact(g, f) for g, f in zip(generations, facts, strict=True) if f]
    return sum(hits) / len(hits) if hits else math.nan
