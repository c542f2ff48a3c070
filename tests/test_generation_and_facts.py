"""Batched greedy generation equals one-at-a-time decoding; fact accuracy on given strings."""

from __future__ import annotations

import math

from unlearn.data.formatting import PromptFormat
from unlearn.evaluation.generation import generate_greedy
from unlearn.metrics.fact import contains_fact, fact_accuracy
from unlearn.models.loading import load_model


def test_batched_left_padded_generation_matches_batch_of_one(tiny_model_dir):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)
    questions = ["Who?", "Where was Ada Lovelace born in the year of the city?", "When was Paavo born?"]
    prompts = fmt.prompt_ids(tokenizer, questions)
    batched = generate_greedy(model, tokenizer, prompts, max_new_tokens=12, batch_size=3, progress=False)
    single = [generate_greedy(model, tokenizer, [p], max_new_tokens=12, batch_size=1, progress=False)[0]
              for p in prompts]
    assert batched == single
    assert all(isinstance(a, str) for a in batched)


def test_contains_fact_is_case_insensitive():
    assert contains_fact("She was born in ADELAIDE.", "Adelaide")
    assert not contains_fact("She was born in Perth.", "Adelaide")


def test_fact_accuracy_by_hand():
    # 2 of the 3 records with a fact are found; the record without a fact is not counted.
    generations = ["born in 1969", "born in 1970", "Adelaide it is", "anything"]
    facts = ["1969", "1969", "adelaide", None]
    assert fact_accuracy(generations, facts) == 2 / 3
    assert math.isnan(fact_accuracy(["x"], [None]))  # not computed, never 0
