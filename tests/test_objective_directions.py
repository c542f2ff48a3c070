"""One optimizer step of a term moves the model the way the method intends (tiny model)."""

from __future__ import annotations

import copy

import torch

from conftest import make_model
from unlearn.data.formatting import PromptFormat, encode_pair
from unlearn.data.pairing import ForgetRetainDataset, PairCollator
from unlearn.objectives.registry import FORGET_TERMS, REGULARIZERS
from unlearn.objectives.sequence import mean_nll, sequence_logprob
from unlearn.training.forget import ForgetSettings
from unlearn.training.reference import FrozenReference, cache_sequence_logprobs, model_forward
from unlearn.training.step_context import StepContext

SETTINGS = ForgetSettings(data="unused", out="unused")
FORGET = [("Where was Ada born?", "Ada was born in London."), ("When was Paavo born?", "Paavo was born in 1984.")]
RETAIN = [("What is the capital of France?", "The capital of France is Paris."),
          ("Who wrote the notes?", "Ada wrote the notes about engines.")]
REFUSAL = "I don't know."


def make_batch(tokenizer):
    fmt = PromptFormat.for_tokenizer(tokenizer)
    enc = lambda pairs: [encode_pair(tokenizer, fmt, q, a, 128) for q, a in pairs]  # noqa: E731
    dataset = ForgetRetainDataset(
        {"forget": enc(FORGET), "forget_idk": enc([(q, REFUSAL) for q, _ in FORGET])},
        {"retain": enc(RETAIN), "retain_idk": enc([(q, REFUSAL) for q, _ in RETAIN])})
    collator = PairCollator(tokenizer.pad_token_id)
    return dataset, collator, collator([dataset[0], dataset[1]])


def step(model, loss, lr=0.05):
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter -= lr * parameter.grad


def forget_nll(model, batch):
    with torch.no_grad():
        out = model(input_ids=batch["forget"]["input_ids"], attention_mask=batch["forget"]["attention_mask"])
        return mean_nll(out.logits, batch["forget"]["labels"]).item()


def test_gradient_ascent_raises_forget_nll(tokenizer):
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    before = forget_nll(model, batch)
    step(model, FORGET_TERMS["GA"].compute(StepContext(model, batch, SETTINGS)))
    assert forget_nll(model, batch) > before + 1e-3


def mean_entropy(model, batch):
    with torch.no_grad():
        out = model(input_ids=batch["forget"]["input_ids"], attention_mask=batch["forget"]["attention_mask"])
        p = torch.softmax(out.logits, -1)
        entropy = -(p * p.log()).sum(-1)
        mask = batch["forget"]["attention_mask"].bool()
        return entropy[mask].mean().item()


def test_maximize_entropy_raises_token_entropy(tokenizer):
    model = make_model(len(tokenizer), seed=3)
    with torch.no_grad():  # start from a peaked model so there is entropy to gain
        model.lm_head.weight.mul_(20)
    _, _, batch = make_batch(tokenizer)
    before = mean_entropy(model, batch)
    step(model, FORGET_TERMS["ME"].compute(StepContext(model, batch, SETTINGS)), lr=0.01)
    assert mean_entropy(model, batch) > before + 1e-3


def refusal_margin(model, batch):
    with torch.no_grad():
        logp = {}
        for stream in ("retain", "retain_idk"):
            out = model(input_ids=batch[stream]["input_ids"], attention_mask=batch[stream]["attention_mask"])
            logp[stream] = sequence_logprob(out.logits, batch[stream]["labels"])
        return (logp["retain_idk"] - logp["retain"]).mean().item()


def test_answer_preservation_lowers_refusal_relative_to_answer(tokenizer):
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    before = refusal_margin(model, batch)
    step(model, REGULARIZERS["AP"].compute(StepContext(model, batch, SETTINGS)))
    assert refusal_margin(model, batch) < before - 1e-3


def test_npo_with_cached_reference_equals_live_reference(tokenizer):
    """Same loss and gradient whether log p_ref comes from the cache or from a second model."""
    model = make_model(len(tokenizer))
    with torch.no_grad():  # move away from the reference so the loss is not at its symmetric point
        model.model.layers[0].mlp.down_proj.weight.add_(0.05)
    reference = make_model(len(tokenizer))
    dataset, collator, batch = make_batch(tokenizer)
    cached = cache_sequence_logprobs(model_forward(reference), dataset, ("forget",), collator, 2, torch.device("cpu"))
    cached_model = copy.deepcopy(model)
    cached_loss = FORGET_TERMS["NPO"].compute(StepContext(cached_model, batch, SETTINGS, cached_logprobs=cached))
    cached_loss.backward()

    live_reference = FrozenReference.separate(reference)
    live = StepContext(model, batch, SETTINGS)
    live_logp_ref = sequence_logprob(live_reference(batch["forget"]).logits, batch["forget"]["labels"])
    from unlearn.objectives.losses import npo

    live_loss = npo(live.logprob("forget"), live_logp_ref, SETTINGS.beta)
    live_loss.backward()
    assert abs(cached_loss.item() - live_loss.item()) < 1e-6
    for (name, a), (_, b) in zip(cached_model.named_parameters(), model.named_parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name
