"""The loss without whole-batch logits: every logit-reading term gives the same loss and the same
gradients (1e-5) as the plain computation on the model's full logits, whatever the chunk size, and
the position sets and their [B, T] layout are right by hand."""

from __future__ import annotations

import pytest
import torch

from conftest import make_model
from unlearn.data.formatting import IGNORE_INDEX
from unlearn.objectives.registry import FORGET_TERMS, REGULARIZERS
from unlearn.objectives.sequence import ANSWER, ATTENDED, BEFORE_ATTENDED, LABELLED, position_mask, to_grid, values_at
from unlearn.training.forget_settings import ForgetSettings
from unlearn.training.reference import FrozenReference
from unlearn.training.chunked_logits import projects_plainly
from unlearn.training.step_context import HIDDEN, StepContext

IGNORED = IGNORE_INDEX  # short, for the label grids below


def test_position_sets_by_hand():
    labels = torch.tensor([[IGNORED, IGNORED, 5, 6, IGNORED], [IGNORED, 7, 8, 9, IGNORED]])
    attention = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    mask, targets = position_mask(ANSWER, labels, attention)
    assert mask.int().tolist() == [[0, 1, 1, 0, 0], [1, 1, 1, 0, 0]]  # t predicts labels[t + 1]
    assert targets[mask].tolist() == [5, 6, 7, 8, 9]
    assert position_mask(LABELLED, labels, attention)[0].int().tolist() == [[0, 0, 1, 1, 0], [0, 1, 1, 1, 0]]
    assert position_mask(ATTENDED, labels, attention)[0].int().tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert position_mask(BEFORE_ATTENDED, labels, attention)[0].int().tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]


def test_grid_layout_by_hand():
    mask = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 0]], dtype=torch.bool)
    grid, filled = to_grid(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), mask)
    assert grid.tolist() == [[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [3.0, 4.0, 5.0]]
    assert filled.int().tolist() == [[1, 1, 0], [0, 0, 0], [1, 1, 1]]


class PlainLogits(StepContext):
    """The plain computation: the model's logits at every position, then the per-token function."""

    def token_values(self, stream, function, where=ANSWER, with_reference=False):
        inputs = self.batch[stream]
        logits = self.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
        reference = self.reference(inputs).logits if with_reference else None
        return values_at(function, where, logits, inputs["labels"], inputs["attention_mask"], reference)


def random_stream(generator, vocab, rows=4, length=11):
    """Right-padded rows with prompts and answers of different lengths."""
    input_ids = torch.randint(5, vocab, (rows, length), generator=generator)
    attention = torch.zeros(rows, length, dtype=torch.long)
    labels = torch.full((rows, length), IGNORED)
    for row, (prompt, answer) in enumerate([(3, 4), (2, 7), (5, 1), (4, 5)][:rows]):
        attention[row, :prompt + answer] = 1
        labels[row, prompt:prompt + answer] = input_ids[row, prompt:prompt + answer]
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


VARIANTS = [(t, {}) for t in list(FORGET_TERMS.values()) + list(REGULARIZERS.values()) if t.name != "RMU"]
VARIANTS += [(FORGET_TERMS["ME"], {"method_args": {"ME": {"form": "code"}}}),
             (FORGET_TERMS["PDU"], {"method": "PDU", "method_args": {"PDU": {"positions": "labels"}}})]


def loss_and_gradients(model, term, context):
    model.zero_grad()
    loss = term.loss(context)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("term,options", VARIANTS, ids=lambda v: getattr(v, "name", None) or str(v))
def test_loss_and_gradients_equal_the_full_logit_computation(term, options):
    vocab = 64
    model = make_model(vocab).train()
    generator = torch.Generator().manual_seed(0)
    batch = {stream: random_stream(generator, vocab) for stream in term.streams}
    batch["index"] = torch.arange(4)
    cached = {s: torch.randn(4, generator=generator) - 20 for s in term.reference_logprobs}
    reference = FrozenReference.copy_of(make_model(vocab, seed=1))
    settings = ForgetSettings(data="unused", out="unused", **options)
    results = {}
    for name, context_type, chunk in [("plain", PlainLogits, 0), ("own logits", StepContext, 0),
                                      ("chunks of 1", StepContext, 1), ("chunks of 3", StepContext, 3),
                                      ("one chunk", StepContext, 512)]:
        context = context_type(model, batch, settings, reference, cached, chunk_tokens=chunk)
        results[name] = loss_and_gradients(model, term, context)
    plain_loss, plain_grads = results.pop("plain")
    assert plain_loss.abs() > 0
    for name, (loss, grads) in results.items():
        torch.testing.assert_close(loss, plain_loss, rtol=1e-5, atol=1e-6, msg=name)
        for grad, plain_grad in zip(grads, plain_grads):
            torch.testing.assert_close(grad, plain_grad, rtol=1e-5, atol=1e-6, msg=name)


def test_a_model_that_soft_caps_its_logits_falls_back_to_its_own_logits():
    """Gemma 2 computes 30 tanh(z / 30) of the projection: chunking the projection would be wrong, so
    the step detects it and reads the model's own logits (same loss as without chunking)."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    config = Gemma2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=2, num_key_value_heads=2, head_dim=16, final_logit_softcapping=0.5)
    model = Gemma2ForCausalLM(config)
    batch = {"forget": random_stream(torch.Generator().manual_seed(0), 64), "index": torch.arange(4)}
    settings = ForgetSettings(data="unused", out="unused")
    ga = FORGET_TERMS["GA"]
    chunked = StepContext(model, batch, settings, chunk_tokens=3)
    plain = PlainLogits(model, batch, settings)
    torch.testing.assert_close(ga.loss(chunked), ga.loss(plain), rtol=1e-5, atol=1e-6)
    assert not projects_plainly(model, lambda: chunked._forward("forget", HIDDEN))
    llama = make_model(64)
    llama_context = StepContext(llama, batch, settings, chunk_tokens=3)
    assert projects_plainly(llama, lambda: llama_context._forward("forget", HIDDEN))


@pytest.mark.parametrize("name", ["GA", "ME"])
def test_chunks_under_gradient_checkpointing_give_the_same_gradients(name):
    term = FORGET_TERMS[name]
    vocab = 64
    batch = {"forget": random_stream(torch.Generator().manual_seed(0), vocab), "index": torch.arange(4)}
    settings = ForgetSettings(data="unused", out="unused")
    plain = loss_and_gradients(model := make_model(vocab).train(), term, PlainLogits(model, batch, settings))
    checkpointed = make_model(vocab).train()
    checkpointed.gradient_checkpointing_enable()
    chunked = loss_and_gradients(checkpointed, term, StepContext(checkpointed, batch, settings, chunk_tokens=3))
    torch.testing.assert_close(chunked[0], plain[0], rtol=1e-5, atol=1e-6)
    for grad, plain_grad in zip(chunked[1], plain[1]):
        torch.testing.assert_close(grad, plain_grad, rtol=1e-5, atol=1e-6)
