"""Batched greedy generation equals one-at-a-time decoding; retiring finished sequences gives
``generate``'s tokens for less compute; fact accuracy on given strings."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import make_model, make_tokenizer
from unlearn.data.collate import pad_batch
from unlearn.data.formatting import PromptFormat
from unlearn.evaluation.generation import generate_greedy
from unlearn.evaluation.greedy_decode import DecodeCount, greedy_retiring, retiring_supported
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


# Answers of different lengths, each ending with EOS, learned by a tiny model, so that greedy
# decoding stops rows at different steps (a random tiny model never emits EOS).
TAUGHT = [("Who?", "Ada"), ("Where was Ada born?", "London in 1815 and wrote notes"), ("When?", "1984"),
          ("What is the capital of France?", "Paris"),
          ("Who wrote books?", "Paavo Dellacroix was born in Bergen in 1984 and is a poet"),
          ("Which city?", "I don't know")]


@pytest.fixture(scope="module")
def taught():
    """A tiny model fitted to TAUGHT (``question answer<eos>``), its tokenizer and the prompts:
    the TAUGHT questions and two it never saw."""
    torch.manual_seed(0)
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    rows = [tokenizer(q + " ")["input_ids"] + tokenizer(a)["input_ids"] + [tokenizer.eos_token_id] for q, a in TAUGHT]
    batch = pad_batch([{"input_ids": r, "attention_mask": [1] * len(r), "labels": r} for r in rows],
                      tokenizer.pad_token_id, "right")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(120):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    prompts = [tokenizer(q + " ")["input_ids"] for q, _ in TAUGHT]
    prompts += [tokenizer("Ada was born")["input_ids"], tokenizer("poet of")["input_ids"]]
    return model, tokenizer, prompts


def test_retiring_finished_rows_gives_generates_answers_for_less_compute(taught):
    model, tokenizer, prompts = taught
    assert retiring_supported(model)
    for batch_size in (1, 3, 8):
        retired, kept = DecodeCount(), DecodeCount()
        new = generate_greedy(model, tokenizer, prompts, 16, batch_size, progress=False, count=retired)
        old = generate_greedy(model, tokenizer, prompts, 16, batch_size, progress=False, retire_finished=False,
                              count=kept)
        assert new == old
        assert retired.new_tokens == kept.new_tokens and retired.at_limit == kept.at_limit
        assert retired.prompt_padding == kept.prompt_padding
        if batch_size == 1:
            assert retired.row_steps == kept.row_steps  # nothing to retire in a batch of one
    # in one batch of 8: rows that stopped early no longer run while the long ones go on
    assert 0 < retired.at_limit < len(prompts)
    assert retired.row_steps < kept.row_steps == len(prompts) * 15
    assert new[0] == "Ada" and new[3] == "Paris"


def test_a_batch_ends_when_every_row_has_stopped(taught):
    model, tokenizer, prompts = taught
    short = [prompts[0], prompts[2], prompts[3]]  # "Ada", "1984", "Paris": each ends with EOS early
    batch = pad_batch([{"input_ids": p, "attention_mask": [1] * len(p)} for p in short], tokenizer.pad_token_id,
                      "left")
    tokens, count = greedy_retiring(model, batch["input_ids"], batch["attention_mask"], 64, tokenizer.eos_token_id)
    assert all(t[-1] == tokenizer.eos_token_id for t in tokens) and count.at_limit == 0
    longest = max(len(t) for t in tokens)
    assert longest < 10 and count.steps == longest - 1  # no pass after the last row's EOS
    assert count.row_steps == sum(len(t) - 1 for t in tokens)  # each row runs until its own EOS
    assert [tokenizer.decode(t, skip_special_tokens=True) for t in tokens] == ["Ada", "1984", "Paris"]


def test_a_row_without_eos_stops_at_the_limit(taught):
    model, tokenizer, prompts = taught
    batch = pad_batch([{"input_ids": prompts[4], "attention_mask": [1] * len(prompts[4])}], tokenizer.pad_token_id)
    tokens, count = greedy_retiring(model, batch["input_ids"], batch["attention_mask"], 5, tokenizer.eos_token_id)
    assert len(tokens[0]) == 5 and count.at_limit == 1 and count.new_tokens == 5 and count.steps == 4


def test_models_with_their_own_decoding_keep_generate(taught):
    from unlearn.models.combined import CombinedLogitsModel

    model, tokenizer, _ = taught
    assert not retiring_supported(CombinedLogitsModel(model, make_model(len(tokenizer), seed=1), "uld", 0.5))
    penalized = make_model(len(tokenizer))
    penalized.generation_config.repetition_penalty = 1.3  # a logits processor generate would apply
    assert not retiring_supported(penalized)
