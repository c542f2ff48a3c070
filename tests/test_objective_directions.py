"""One optimizer step of a term moves the model the way the method intends (tiny model)."""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import make_model
from unlearn.data.formatting import PromptFormat, encode_pair
from unlearn.data.pairing import ForgetRetainDataset, PairCollator
from unlearn.objectives.registry import FORGET_TERMS, REGULARIZERS
from unlearn.objectives import per_token
from unlearn.objectives.losses import token_mean
from unlearn.objectives.sequence import ANSWER, mean_nll, sequence_logprob, values_at
from unlearn.training.forget_settings import ForgetSettings
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
        {"forget": enc(FORGET), "forget_idk": enc([(q, REFUSAL) for q, _ in FORGET]),
         "forget_mismatch": enc([(q, a) for (q, _), (_, a) in zip(FORGET, RETAIN)])},
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


def logits_of(model, batch, stream):
    with torch.no_grad():
        return model(input_ids=batch[stream]["input_ids"], attention_mask=batch[stream]["attention_mask"]).logits


def stream_nll(model, batch, stream):
    """Token-mean answer NLL of a stream (minus the mean log-prob of its answer tokens)."""
    return mean_nll(logits_of(model, batch, stream), batch[stream]["labels"]).item()


def forget_nll(model, batch):
    return stream_nll(model, batch, "forget")


def test_gradient_ascent_raises_forget_nll(tokenizer):
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    before = forget_nll(model, batch)
    step(model, FORGET_TERMS["GA"].loss(StepContext(model, batch, SETTINGS)))
    assert forget_nll(model, batch) > before + 1e-3


def mean_entropy(model, batch):
    with torch.no_grad():
        out = model(input_ids=batch["forget"]["input_ids"], attention_mask=batch["forget"]["attention_mask"])
        p = torch.softmax(out.logits, -1)
        entropy = -(p * p.log()).sum(-1)
        mask = batch["forget"]["attention_mask"].bool()
        return entropy[mask].mean().item()


@pytest.mark.parametrize("form", ["paper", "code"])
def test_maximize_entropy_raises_token_entropy(tokenizer, form):
    model = make_model(len(tokenizer), seed=3)
    with torch.no_grad():  # start from a peaked model so there is entropy to gain
        model.lm_head.weight.mul_(20)
    _, _, batch = make_batch(tokenizer)
    before = mean_entropy(model, batch)
    settings = ForgetSettings(data="unused", out="unused", method_args={"ME": {"form": form}})
    step(model, FORGET_TERMS["ME"].loss(StepContext(model, batch, settings)), lr=0.01)
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
    step(model, REGULARIZERS["AP"].loss(StepContext(model, batch, SETTINGS)))
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
    cached_loss = FORGET_TERMS["NPO"].loss(StepContext(cached_model, batch, SETTINGS, cached_logprobs=cached))
    cached_loss.backward()

    live_reference = FrozenReference.separate(reference)
    live = StepContext(model, batch, SETTINGS)
    live_logp_ref = sequence_logprob(live_reference(batch["forget"]).logits, batch["forget"]["labels"])
    from unlearn.objectives.losses import npo

    live_loss = npo(live.logprob("forget"), live_logp_ref, beta=0.1)  # NPO's default
    live_loss.backward()
    assert abs(cached_loss.item() - live_loss.item()) < 1e-6
    for (name, a), (_, b) in zip(cached_model.named_parameters(), model.named_parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


# --- one step of every other term, through the registry's Term.compute as the trainer calls it ---

def cached_reference(model, dataset, collator, streams):
    """``log p_ref(y|x)`` of ``streams`` under the model as it is now (the trainer's default reference)."""
    return cache_sequence_logprobs(model_forward(model), dataset, streams, collator, 2, torch.device("cpu"))


def test_npo_raises_forget_nll(tokenizer):
    model = make_model(len(tokenizer))
    dataset, collator, batch = make_batch(tokenizer)
    cached = cached_reference(model, dataset, collator, ("forget",))
    before = forget_nll(model, batch)
    step(model, FORGET_TERMS["NPO"].loss(StepContext(model, batch, SETTINGS, cached_logprobs=cached)))
    assert forget_nll(model, batch) > before + 1e-3


def test_npo_away_from_the_reference_still_raises_forget_nll(tokenizer):
    """With logp below logp_ref the two arguments are no longer interchangeable: swapping them flips the step."""
    model = make_model(len(tokenizer))
    dataset, collator, batch = make_batch(tokenizer)
    cached = cached_reference(model, dataset, collator, ("forget",))
    cached["forget"] += 5.0  # the reference found the forget answers e^5 times likelier than the model does
    before = forget_nll(model, batch)
    step(model, FORGET_TERMS["NPO"].loss(StepContext(model, batch, SETTINGS, cached_logprobs=cached)))
    assert forget_nll(model, batch) > before + 1e-3


def test_simnpo_raises_forget_nll(tokenizer):
    # at beta 2.5 an untrained model (forget NLL ~5.7, sigma(-2.5 * 5.7) ~ 6e-7) is at the flat end of
    # log sigma; a small beta keeps the step measurable without changing its direction
    settings = ForgetSettings(data="unused", out="unused", method="SimNPO",
                              method_args={"SimNPO": {"beta": 0.25, "gamma": 0.5}})
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    before = forget_nll(model, batch)
    step(model, FORGET_TERMS["SimNPO"].loss(StepContext(model, batch, settings)))
    assert forget_nll(model, batch) > before + 1e-3


def dpo_margin(model, batch, cached):
    """``(logp - logp_ref)(refusal) - (logp - logp_ref)(answer)``, averaged over the batch."""
    index = batch["index"]
    win = sequence_logprob(logits_of(model, batch, "forget_idk"), batch["forget_idk"]["labels"])
    lose = sequence_logprob(logits_of(model, batch, "forget"), batch["forget"]["labels"])
    return ((win - cached["forget_idk"][index]) - (lose - cached["forget"][index])).mean().item()


def test_dpo_raises_the_refusal_over_answer_margin(tokenizer):
    model = make_model(len(tokenizer))
    dataset, collator, batch = make_batch(tokenizer)
    cached = cached_reference(model, dataset, collator, ("forget", "forget_idk"))
    before = dpo_margin(model, batch, cached)
    assert abs(before) < 1e-4  # the reference is the model itself
    step(model, FORGET_TERMS["DPO"].loss(StepContext(model, batch, SETTINGS, cached_logprobs=cached)))
    assert dpo_margin(model, batch, cached) > before + 1e-2


def test_idk_raises_the_refusal_probability(tokenizer):
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    before = stream_nll(model, batch, "forget_idk")
    step(model, FORGET_TERMS["IDK"].loss(StepContext(model, batch, SETTINGS)))
    assert stream_nll(model, batch, "forget_idk") < before - 1e-3


@pytest.mark.parametrize("name", ["WGA", "CE-U", "UNDIAL"])
def test_token_level_terms_lower_the_true_answer_log_probability(tokenizer, name):
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    reference = FrozenReference.copy_of(model) if FORGET_TERMS[name].frozen_model else None
    before = forget_nll(model, batch)  # minus the mean log-prob of the answer tokens
    # their gradients scale with p(y_t) (~1/300 on an untrained model), hence the large step
    step(model, FORGET_TERMS[name].loss(StepContext(model, batch, SETTINGS, reference=reference)), lr=1.0)
    assert forget_nll(model, batch) > before + 5e-3


def test_llmu_raises_forget_nll_and_learns_the_mismatched_answer(tokenizer):
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    before_forget, before_mismatch = forget_nll(model, batch), stream_nll(model, batch, "forget_mismatch")
    step(model, FORGET_TERMS["LLMU"].loss(StepContext(model, batch, SETTINGS)))
    assert forget_nll(model, batch) > before_forget + 1e-2
    assert stream_nll(model, batch, "forget_mismatch") < before_mismatch - 1e-2


@pytest.mark.parametrize("params,trained", [("down_proj", {"model.layers.0.mlp.down_proj.weight"}),
                                            ("mlp", {f"model.layers.0.mlp.{p}_proj.weight"
                                                     for p in ("gate", "up", "down")})])
def test_rmu_steers_layer_activations_to_c_u_and_trains_only_its_chosen_weights(tokenizer, params, trained):
    """WMDP's RMU trains mlp.down_proj of layers l-2..l (param_ids=[6]); every other weight stays bit-identical."""
    from unlearn.objectives.losses import activation_distance
    from unlearn.training.rmu_setup import prepare_rmu

    model = make_model(len(tokenizer))  # two layers: rmu_layer 0 trains layer 0 only
    _, _, batch = make_batch(tokenizer)
    settings = ForgetSettings(data="unused", out="unused", method="RMU",
                              method_args={"RMU": {"layer": 0, "params": params}})
    layer, direction = prepare_rmu(model, settings)  # the trainer's own parameter selection and u
    assert layer == 0 and direction.norm().item() == pytest.approx(1.0, rel=1e-6)
    target = settings.args_of("RMU").steering * direction

    def distance():
        with torch.no_grad():
            out = model(input_ids=batch["forget"]["input_ids"], attention_mask=batch["forget"]["attention_mask"],
                        output_hidden_states=True)
            hidden = out.hidden_states[layer + 1]
            return activation_distance(hidden, target.expand_as(hidden), batch["forget"]["attention_mask"]).item()

    before_weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    before = distance()
    context = StepContext(model, batch, settings, hidden_layer=layer, steering_direction=direction)
    step(model, FORGET_TERMS["RMU"].loss(context), lr=0.5)
    assert distance() < before - 1e-2
    for name, parameter in model.named_parameters():
        assert parameter.requires_grad == (name in trained), name
        if name in trained:
            assert parameter.grad is not None and not torch.equal(parameter, before_weights[name]), name
        else:
            assert parameter.grad is None and torch.equal(parameter, before_weights[name]), name


def test_adaptive_rmu_scales_c_to_the_frozen_activation_norm(tokenizer):
    from unlearn.training.rmu_setup import prepare_rmu

    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    settings = ForgetSettings(data="unused", out="unused", method="RMU",
                              method_args={"RMU": {"layer": 1, "adaptive_beta": 5.0}})
    layer, direction = prepare_rmu(model, settings)
    with torch.no_grad():  # the frozen model is the model before its first step
        hidden = model(input_ids=batch["forget"]["input_ids"], attention_mask=batch["forget"]["attention_mask"],
                       output_hidden_states=True).hidden_states[layer + 1]
    mask = batch["forget"]["attention_mask"].bool()
    expected = 5.0 * hidden.norm(dim=-1)[mask].mean().item()  # beta * mean norm over real tokens
    context = StepContext(model, batch, settings, reference=FrozenReference.copy_of(model), hidden_layer=layer,
                          steering_direction=direction)
    target = context.rmu_target(hidden, steering=6.5, adaptive_beta=5.0)
    assert target.norm(dim=-1).flatten().tolist() == pytest.approx([expected] * mask.numel(), rel=1e-5)
    assert expected != pytest.approx(6.5)


def retain_kl(model, reference, batch):
    """``mean_t KL(p_ref,t || p_theta,t)`` over retain answer tokens, written out independently."""
    labels = batch["retain"]["labels"]
    mask = (labels[:, 1:] != -100).float()
    log_p = torch.log_softmax(logits_of(model, batch, "retain")[:, :-1], -1)
    log_ref = torch.log_softmax(reference(batch["retain"]).logits[:, :-1], -1)
    kl = (log_ref.exp() * (log_ref - log_p)).sum(-1)
    return ((kl * mask).sum() / mask.sum()).item()


def peaked_reference(tokenizer):
    """Another seed with a sharpened output layer: its next-token distributions differ from the model's."""
    reference = make_model(len(tokenizer), seed=1)
    with torch.no_grad():
        reference.lm_head.weight.mul_(10)
    return FrozenReference.separate(reference)


def test_kl_regularizer_lowers_kl_to_a_different_reference(tokenizer):
    model = make_model(len(tokenizer))
    reference = peaked_reference(tokenizer)
    _, _, batch = make_batch(tokenizer)
    before = retain_kl(model, reference, batch)
    assert before > 1.0  # the two models differ
    step(model, REGULARIZERS["KL"].loss(StepContext(model, batch, SETTINGS, reference=reference)), lr=0.5)
    assert retain_kl(model, reference, batch) < before - 5e-2


def test_kl_regularizer_gradient_is_that_of_kl_ref_to_model(tokenizer):
    """d KL(p_ref || p_theta) / d z_theta = (p_theta - p_ref) / N on each counted position; the reverse
    KL(p_theta || p_ref), which swapping model and reference would give, has another gradient."""
    model = make_model(len(tokenizer))
    reference = peaked_reference(tokenizer)
    _, _, batch = make_batch(tokenizer)
    context = StepContext(model, batch, SETTINGS, reference=reference)  # the model's own logits, answer positions
    logits = context._forward("retain", ANSWER).logits  # memoized: the very tensor the term reads, [N, V]
    logits.retain_grad()
    REGULARIZERS["KL"].loss(context).backward()
    p = torch.softmax(logits.detach(), -1)
    p_ref = torch.softmax(context._forward("retain", ANSWER, frozen=True).logits, -1)
    expected = (p - p_ref) / logits.shape[0]
    assert logits.shape[0] == int((batch["retain"]["labels"][:, 1:] != -100).sum())
    assert torch.allclose(logits.grad, expected, atol=1e-7)


def test_gradient_descent_lowers_retain_nll(tokenizer):
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    before = stream_nll(model, batch, "retain")
    step(model, REGULARIZERS["GD"].loss(StepContext(model, batch, SETTINGS)))
    assert stream_nll(model, batch, "retain") < before - 1e-3


class _FixedLogits:
    """The part of a StepContext that PDU's forget term reads, on hand-made logits."""

    def __init__(self, logits, labels, positions):
        self.settings = ForgetSettings(data="unused", out="unused", method="PDU",
                                       method_args={"PDU": {"positions": positions}})
        self._logits, self._labels = logits, labels

    def token_values(self, stream, function, where=ANSWER, with_reference=False):
        return values_at(function, where, self._logits, self._labels)


@pytest.mark.parametrize("positions,expected", [("answer", (4 + 9) / 2), ("labels", (9 + 16) / 2)])
def test_pdu_margin_is_read_where_the_answer_is_predicted_or_at_its_tokens(positions, expected):
    # 4 positions whose logit margins (max - mean: a - a/3 for [0, 0, a]) are 1, 2, 3, 4; answer tokens at 2, 3
    logits = torch.tensor([[[0.0, 0.0, 1.5], [0.0, 0.0, 3.0], [0.0, 0.0, 4.5], [0.0, 0.0, 6.0]]])
    labels = torch.tensor([[-100, -100, 5, 6]])
    assert FORGET_TERMS["PDU"].loss(_FixedLogits(logits, labels, positions)).item() == pytest.approx(expected)


def test_pdu_forget_term_flattens_the_forget_logits(tokenizer):
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)

    def margin():
        values = values_at(per_token.squared_logit_margin, ANSWER, logits_of(model, batch, "forget"),
                           batch["forget"]["labels"])
        return token_mean(*values).item()

    before = margin()
    step(model, FORGET_TERMS["PDU"].loss(StepContext(model, batch, SETTINGS)), lr=0.05)
    assert margin() < before * 0.99


def test_rmu_reads_every_real_token_or_only_the_answers_tokens(tokenizer):
    """``rmu.positions``: the forget term is ``mean_t ||h_t - c u||^2`` over the real tokens (``all``) or over
    the answer's tokens (``answer``), by hand from the layer's activations; the retain term likewise against
    the frozen model."""
    model = make_model(len(tokenizer))
    _, _, batch = make_batch(tokenizer)
    direction = torch.nn.functional.normalize(torch.randn(model.config.hidden_size, generator=torch.Generator()
                                                          .manual_seed(0)), dim=0)
    reference = FrozenReference(copy.deepcopy(model))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    for positions, counted in (("all", lambda s: batch[s]["attention_mask"].bool()),
                               ("answer", lambda s: batch[s]["labels"] != -100)):
        settings = ForgetSettings(data="unused", out="unused", method="RMU",
                                  method_args={"RMU": {"layer": 0, "steering": 3.0, "positions": positions}})
        context = StepContext(model, batch, settings, reference=reference, hidden_layer=0,
                              steering_direction=direction)
        with torch.no_grad():
            hidden = {s: model(**{k: batch[s][k] for k in ("input_ids", "attention_mask")},
                               output_hidden_states=True).hidden_states[1] for s in ("forget", "retain")}
            frozen = reference.model(input_ids=batch["retain"]["input_ids"],
                                     attention_mask=batch["retain"]["attention_mask"],
                                     output_hidden_states=True).hidden_states[1]
        forget = (hidden["forget"] - 3.0 * direction).pow(2).sum(-1)[counted("forget")].mean()
        retain = (hidden["retain"] - frozen).pow(2).sum(-1)[counted("retain")].mean()
        assert FORGET_TERMS["RMU"].loss(context).item() == pytest.approx(forget.item(), rel=1e-5)
        assert REGULARIZERS["RMU"].loss(context).item() == pytest.approx(retain.item(), rel=1e-5)
    assert (batch["forget"]["labels"] != -100).sum() < batch["forget"]["attention_mask"].sum()
