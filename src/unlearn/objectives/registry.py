"""Named objective terms and method names ``FORGET[+REGULARIZER]``.

A term says which data streams it reads (``forget``, ``forget_idk``, ``forget_mismatch``,
``retain``, ``retain_idk``) and what else it needs: reference sequence log-probabilities
(cached once before training), a frozen reference model, or hidden states. The trainer
provides exactly that through a ``StepContext``; the math lives in ``losses``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Callable, Literal

from unlearn.errors import UserError
from unlearn.families import ONE_MODEL, PROCEDURES
from unlearn.objectives import losses, per_token
from unlearn.objectives.sequence import ANSWER, LABELLED

if TYPE_CHECKING:
    from unlearn.training.step_context import StepContext

FORGET_STREAMS = ("forget", "forget_idk", "forget_mismatch")
RETAIN_STREAMS = ("retain", "retain_idk")
REFUSAL_STREAMS = ("forget_idk", "retain_idk")


@dataclass(frozen=True)
class Term:
    name: str
    role: Literal["forget", "regularizer"]
    streams: tuple[str, ...]
    compute: Callable[["StepContext"], object]
    summary: str
    reference_logprobs: tuple[str, ...] = ()  # streams whose log p_ref(y|x) is cached before training
    frozen_model: bool = False  # needs the frozen reference model's logits or activations
    full_weights_only: bool = False  # selects its own parameters; not with LoRA


def _answer_logp(ctx, stream):
    """``(log p(y_t) [B, T], mask)`` at the stream's answer positions."""
    return ctx.token_values(stream, per_token.logprob)


def _maximize_entropy(ctx):
    function, where = losses.ME_FORMS[ctx.settings.me_form]
    return losses.maximize_entropy(*ctx.token_values("forget", function, where))


def _undial(ctx):
    function = partial(per_token.undial_cross_entropy, strength=ctx.settings.undial_strength)
    return losses.token_mean(*ctx.token_values("forget", function, with_reference=True))


def _rmu_forget(ctx):
    hidden, mask = ctx.hidden("forget")
    return losses.activation_distance(hidden, ctx.rmu_target(hidden), mask, ctx.settings.rmu_reduction)


def _pdu_forget(ctx):
    """The logit margin where the answer is predicted, or (``pdu_positions: labels``, open-unlearning's
    ``pdu.py``) at the answer tokens' own positions, one later."""
    where = LABELLED if ctx.settings.pdu_positions == "labels" else ANSWER
    return losses.token_mean(*ctx.token_values("forget", per_token.squared_logit_margin, where))


def _rmu_retain(ctx):
    hidden, mask = ctx.hidden("retain")
    reference, _ = ctx.reference_hidden("retain")
    return losses.activation_distance(hidden, reference, mask, ctx.settings.rmu_reduction)


FORGET_TERMS = {t.name: t for t in [
    Term("GA", "forget", ("forget",), lambda c: losses.gradient_ascent(*_answer_logp(c, "forget")),
         "gradient ascent on the forget answers"),
    Term("NPO", "forget", ("forget",),
         lambda c: losses.npo(c.logprob("forget"), c.reference_logprob("forget"), c.settings.beta),
         "negative preference optimization against the cached reference", reference_logprobs=("forget",)),
    Term("SimNPO", "forget", ("forget",),
         lambda c: losses.simnpo(c.logprob("forget"), c.lengths("forget"), c.settings.simnpo_beta,
                                 c.settings.simnpo_gamma),
         "length-normalized NPO without a reference"),
    Term("IDK", "forget", ("forget_idk",), lambda c: losses.nll(*_answer_logp(c, "forget_idk")),
         "learn a refusal as the answer to forget questions"),
    Term("DPO", "forget", ("forget", "forget_idk"),
         lambda c: losses.dpo(c.logprob("forget_idk"), c.reference_logprob("forget_idk"),
                              c.logprob("forget"), c.reference_logprob("forget"), c.settings.beta),
         "prefer the refusal over the true answer", reference_logprobs=("forget", "forget_idk")),
    Term("ME", "forget", ("forget",),
         _maximize_entropy,
         "maximize the entropy of next-token distributions on forget text"),
    Term("WGA", "forget", ("forget",),
         lambda c: losses.weighted_gradient_ascent(*_answer_logp(c, "forget"), c.settings.wga_alpha),
         "gradient ascent weighted by the detached token probability"),
    Term("SatImp", "forget", ("forget",),
         lambda c: losses.saturation_importance(*_answer_logp(c, "forget"), c.settings.satimp_beta1,
                                                c.settings.satimp_beta2),
         "gradient ascent weighted by p^beta1 * (1-p)^beta2 of the detached token probability"),
    Term("CE-U", "forget", ("forget",),
         lambda c: losses.token_mean(*c.token_values("forget", per_token.cross_entropy_without_true)),
         "cross-entropy to the model's own distribution without the true token"),
    Term("UNDIAL", "forget", ("forget",),
         _undial,
         "self-distillation on logits with the true token's logit lowered", frozen_model=True),
    Term("LLMU", "forget", ("forget", "forget_mismatch"),
         lambda c: losses.gradient_ascent(*_answer_logp(c, "forget"))
         + c.settings.mismatch_weight * losses.nll(*_answer_logp(c, "forget_mismatch")),
         "gradient ascent plus learning random retain answers to forget questions"),
    Term("RMU", "forget", ("forget",), _rmu_forget,
         "steer layer activations on forget text to a scaled random vector", full_weights_only=True),
    Term("PDU", "forget", ("forget",), _pdu_forget,
         "flatten the logits on forget answers (max minus mean, squared), retain loss bounded by a dual variable"),
]}

REGULARIZERS = {t.name: t for t in [
    Term("GD", "regularizer", ("retain",), lambda c: losses.nll(*_answer_logp(c, "retain")),
         "keep the retain answers likely (gradient descent)"),
    Term("KL", "regularizer", ("retain",),
         lambda c: losses.token_mean(*c.token_values("retain", per_token.kl_from_reference, with_reference=True)),
         "stay close to the frozen model on retain answers", frozen_model=True),
    Term("AP", "regularizer", ("retain", "retain_idk"),
         lambda c: losses.answer_preservation(c.logprob("retain_idk"), c.logprob("retain"), c.settings.beta),
         "answer preservation: keep refusals below true answers on retain questions"),
    Term("RMU", "regularizer", ("retain",), _rmu_retain,
         "keep layer activations on retain text equal to the frozen model's", frozen_model=True,
         full_weights_only=True),
]}

DEFAULT_REGULARIZER = {"RMU": "RMU", "PDU": "GD"}  # each is defined with its retain term


@dataclass(frozen=True)
class Method:
    name: str
    forget: Term
    regularizer: Term | None

    @property
    def terms(self) -> tuple[Term, ...]:
        return (self.forget,) + ((self.regularizer,) if self.regularizer else ())

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for t in self.terms for s in t.streams))

    @property
    def reference_logprob_streams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for t in self.terms for s in t.reference_logprobs))

    @property
    def needs_frozen_model(self) -> bool:
        return any(t.frozen_model for t in self.terms)

    @property
    def needs_refusals(self) -> bool:
        return any(s in REFUSAL_STREAMS for s in self.streams)

    @property
    def needs_retain(self) -> bool:
        return any(s in RETAIN_STREAMS or s == "forget_mismatch" for s in self.streams)

    @property
    def full_weights_only(self) -> bool:
        return any(t.full_weights_only for t in self.terms)


def parse_method(name: str) -> Method:
    """``"ME+GD"`` -> Method(ME, GD); unknown parts are rejected with the list of valid names."""
    forget_name, plus, regularizer_name = name.partition("+")
    if forget_name not in FORGET_TERMS or "+" in regularizer_name or (plus and not regularizer_name):
        raise UserError(f"unknown method '{name}': a method is FORGET[+REGULARIZER] with FORGET one of "
                        f"{', '.join(FORGET_TERMS)} and REGULARIZER one of {', '.join(REGULARIZERS)}, or one of "
                        f"{', '.join(PROCEDURES)}")
    regularizer_name = regularizer_name or DEFAULT_REGULARIZER.get(forget_name, "")
    if regularizer_name and regularizer_name not in REGULARIZERS:
        raise UserError(f"unknown regularizer '{regularizer_name}' in method '{name}' "
                        f"(valid: {', '.join(REGULARIZERS)})")
    return Method(name, FORGET_TERMS[forget_name], REGULARIZERS.get(regularizer_name))


def reads_retain(name: str) -> bool:
    """Whether method ``name`` (of any family) trains on or reads the retain split."""
    if name in PROCEDURES:
        return PROCEDURES[name].needs_retain
    return parse_method(name).needs_retain


def inference_cost(name: str) -> str:
    return PROCEDURES[name].inference_cost if name in PROCEDURES else ONE_MODEL


def method_table() -> str:
    """A readable list of every method, for ``unlearn forget --list-methods``."""
    lines = [f"direct fine-tuning and RMU (cost at inference: {ONE_MODEL}); forget terms:"]
    lines += [f"  {t.name:<8} {t.summary}" for t in FORGET_TERMS.values()]
    lines += ["regularizers (append with +, e.g. NPO+GD):"]
    lines += [f"  {t.name:<8} {t.summary}" for t in REGULARIZERS.values()]
    lines += ["other families (use alone, e.g. --method ULD):"]
    for p in PROCEDURES.values():
        lines += [f"  {p.name:<16} [{p.family}] {p.summary}", f"  {'':<16} inference: {p.inference_cost}"]
    return "\n".join(lines)
