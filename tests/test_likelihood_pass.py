"""The batched, length-sorted scoring pass equals a naive one-sequence-at-a-time pass."""

from __future__ import annotations

import pytest
import torch

from conftest import naive_nll
from unlearn.data.formatting import PromptFormat
from unlearn.evaluation.likelihood import score_sequences
from unlearn.models.loading import load_model

PAIRS = [("Where was Ada born?", "Ada was born in London."),
         ("Who?", "Paavo"),
         ("When was Paavo Dellacroix born, and where?", "Paavo Dellacroix was born in Bergen in 1984."),
         ("Where was Ada born?", "Ada was born in London."),  # a duplicate is scored once
         ("What is the capital of France?", "The capital of France is Paris.")]


@pytest.mark.parametrize("side", ["right", "left"])
def test_batched_scores_equal_the_naive_path(tiny_model_dir, side):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)
    scores = score_sequences(model, tokenizer, fmt, PAIRS, batch_size=3, side=side, progress=False)
    assert len(scores) == 4
    for question, answer in PAIRS:
        expected = naive_nll(model, tokenizer, fmt, question, answer)
        assert scores[(question, answer)].nll_sum == pytest.approx(expected, abs=1e-5)
        assert scores[(question, answer)].valid


def test_answers_sharing_a_prompt_score_as_whole_sequences(tiny_model_dir):
    """The prompt runs once for all of a question's answers (its cache repeated per answer); a
    sequence too long for max_length takes the whole-sequence path and is truncated like it."""
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)
    pairs = [("Where was Ada born?", answer) for answer in ("London.", "Ada was born in Paris, France.", "Rome")]
    pairs += [("Who?", "Paavo"), ("Tell me a long story.", "once upon a time " * 30)]
    shared = score_sequences(model, tokenizer, fmt, pairs, batch_size=2, max_length=64, progress=False)
    whole = score_sequences(model, tokenizer, fmt, pairs, batch_size=2, max_length=64, progress=False,
                            share_prompts=False)
    for pair in pairs:
        assert shared[pair].token_logprobs == pytest.approx(whole[pair].token_logprobs, abs=1e-5)
        # sqrt(E[x^2] - E[x]^2) loses digits to cancellation: float rounding shows at 1e-5
        assert shared[pair].vocab_logprob_stds == pytest.approx(whole[pair].vocab_logprob_stds, abs=1e-4)
        assert shared[pair].argmax_tokens == whole[pair].argmax_tokens
    for question, answer in pairs[:4]:
        assert shared[(question, answer)].nll_sum == pytest.approx(naive_nll(model, tokenizer, fmt, question, answer),
                                                                   abs=1e-5)


def test_per_token_numbers_are_consistent(tiny_model_dir):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)
    score = score_sequences(model, tokenizer, fmt, PAIRS[:1], progress=False)[PAIRS[0]]
    n = len(score.answer_tokens)
    assert n == len(score.token_logprobs) == len(score.argmax_tokens) == len(score.vocab_logprob_stds)
    assert score.nll_mean == pytest.approx(score.nll_sum / n)
    # the expected log-prob under the model's own distribution is minus its entropy: between -log V and 0
    assert all(-torch.log(torch.tensor(float(len(tokenizer)))).item() - 1e-4 <= m <= 0
               for m in score.vocab_logprob_means)
