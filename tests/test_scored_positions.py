"""Logits only at scored positions: every answer-scored term gives the same loss and the same
gradients as on the full logits (1e-5), and the compact layout is right by hand."""

from __future__ import annotations

import pytest
import torch

from conftest import make_model
from unlearn.data.formatting import IGNORE_INDEX
from unlearn.objectives.registry import FORGET_TERMS, REGULARIZERS
from unlearn.objectives.sequence import scored_positions, sequence_logprob
from unlearn.training.forget import ForgetSettings
from unlearn.training.reference import FrozenReference
from unlearn.training.step_context import StepContext

I = IGNORE_INDEX


def test_scored_positions_by_hand():
    labels = torch.tensor([[I, I, 5, 6, I],    # answer at 2-3: predicted from positions 1, 2
                           [I, 7, 8, 9, I],    # answer at 1-3: positions 0, 1, 2
                           [I, I, I, I, I]])   # nothing scored
    keep, compact = scored_positions(labels)
    assert keep.tolist() == [[1, 2, 1, 1], [0, 1, 2, 0], [0, 0, 0, 0]]
    assert compact.tolist() == [[I, 5, 6, I], [I, 7, 8, 9], [I, I, I, I]]


class FullLogits(StepContext):
    """The plain computation: full logits and labels everywhere (what the step did before)."""

    def logits_labels(self, stream):
        return self.full_logits(stream), self.batch[stream]["labels"]

    def reference_logits(self, stream):
        return self.reference(self.batch[stream]).logits

    def logprob(self, stream):
        return sequence_logprob(self.full_logits(stream), self.batch[stream]["labels"])


def random_stream(generator, vocab, rows=4, length=11):
    """Right-padded rows with prompts and answers of different lengths."""
    input_ids = torch.randint(5, vocab, (rows, length), generator=generator)
    attention = torch.zeros(rows, length, dtype=torch.long)
    labels = torch.full((rows, length), I)
    for row, (prompt, answer) in enumerate([(3, 4), (2, 7), (5, 1), (4, 5)][:rows]):
        attention[row, :prompt + answer] = 1
        labels[row, prompt:prompt + answer] = input_ids[row, prompt:prompt + answer]
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


@pytest.mark.parametrize("term", [t for t in list(FORGET_TERMS.values()) + list(REGULARIZERS.values())
                                  if t.name not in ("RMU", "ME")], ids=lambda t: f"{t.role}-{t.name}")
def test_loss_and_gradients_equal_the_full_logit_computation(term):
    vocab = 64
    model = make_model(vocab).train()
    generator = torch.Generator().manual_seed(0)
    batch = {stream: random_stream(generator, vocab) for stream in term.streams}
    batch["index"] = torch.arange(4)
    cached = {s: torch.randn(4, generator=generator) - 20 for s in term.reference_logprobs}
    reference = FrozenReference.copy_of(make_model(vocab, seed=1))
    settings = ForgetSettings(data="unused", out="unused")
    results = []
    for context_type in (StepContext, FullLogits):
        model.zero_grad()
        loss = term.compute(context_type(model, batch, settings, reference, cached))
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (compact_loss, compact_grads), (full_loss, full_grads) = results
    assert compact_loss.abs() > 0
    torch.testing.assert_close(compact_loss, full_loss, rtol=1e-5, atol=1e-6)
    for compact_grad, full_grad in zip(compact_grads, full_grads):
        torch.testing.assert_close(compact_grad, full_grad, rtol=1e-5, atol=1e-6)
