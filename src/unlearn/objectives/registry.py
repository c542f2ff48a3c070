"""Named objective terms, the settings each one owns, and method names ``FORGET[+REGULARIZER]``.

A term says which data streams it reads (``forget``, ``forget_idk``, ``forget_mismatch``,
``retain``, ``retain_idk``), what else it needs (reference sequence log-probabilities cached once
before training, a frozen reference model, hidden states) and its own settings (a ``PartSettings``
class, reached as ``--npo.beta`` or ``method_args: {NPO: {beta: ...}}``). The trainer provides what
it needs through a ``StepContext``; the math lives in ``losses``. Adding a loss is one function in
``losses`` and one ``Term`` here.

This module stays light (no torch at import), so the command line can list terms and their flags
fast: ``losses`` and ``per_token`` load when a term first computes.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat

from unlearn.config import PartSettings, part_flag
from unlearn.errors import UserError
from unlearn.families import FAMILY_METHODS, ONE_MODEL

if TYPE_CHECKING:
    from unlearn.training.step_context import StepContext


def _lazy(name: str):
    """The module ``name``, executed on its first attribute access (``importlib.util.LazyLoader``)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


losses = _lazy("unlearn.objectives.losses")
per_token = _lazy("unlearn.objectives.per_token")
sequence = _lazy("unlearn.objectives.sequence")

RETAIN_STREAMS = ("retain", "retain_idk")
REFUSAL_STREAMS = ("forget_idk", "retain_idk")


@dataclass(frozen=True)
class Term:
    name: str
    role: Literal["forget", "regularizer"]
    streams: tuple[str, ...]
    compute: Callable[[StepContext, PartSettings | None], object]  # (context, this term's settings) -> loss
    summary: str
    reference_logprobs: tuple[str, ...] = ()  # streams whose log p_ref(y|x) is cached before training
    frozen_model: bool = False  # needs the frozen reference model's logits or activations
    full_weights_only: bool = False  # selects its own parameters; not with LoRA
    settings: type[PartSettings] | None = None  # its own knobs
    training_defaults: dict = field(default_factory=dict)  # optimizer settings its authors use, where none is set
    part_defaults: dict = field(default_factory=dict)  # {other part: {setting: value}} it changes (PDU's dual)
    needs_dual_bound: bool = False  # bounds its regularizer through PDU's dual update: dual.epsilon is required

    def loss(self, ctx: StepContext):
        """This term's loss on one step, with its own settings from the run's ``method_args``."""
        given = ctx.settings.method_args.get(self.name, {})
        return self.compute(ctx, self.settings.model_validate(given) if self.settings else None)


class PreferenceSettings(PartSettings):
    beta: PositiveFloat = Field(0.1, description="inverse temperature")


class SimNPOSettings(PartSettings):
    beta: PositiveFloat = Field(2.5, description="inverse temperature of the length-normalized log-likelihood")
    gamma: float = Field(0.0, description="reward margin")


class MESettings(PartSettings):
    form: Literal["paper", "code"] = Field(
        "paper", description="the divergence: paper = KL(P||U) on real tokens; code = KL(U||P) on the positions "
                             "whose next token is real (the authors' get_me_loss)")


class WGASettings(PartSettings):
    alpha: NonNegativeFloat = Field(1.0, description="exponent of the detached token probability in the weight")


class SatImpSettings(PartSettings):
    beta1: NonNegativeFloat = Field(5.0, description="exponent of p in the token weight")
    beta2: NonNegativeFloat = Field(1.0, description="exponent of 1 - p in the token weight")


class UNDIALSettings(PartSettings):
    strength: NonNegativeFloat = Field(10.0, description="how far the true token's logit is lowered")


class LLMUSettings(PartSettings):
    mismatch_weight: NonNegativeFloat = Field(1.0, description="weight of the random-mismatch term")


class RMUSettings(PartSettings):
    layer: NonNegativeInt = Field(7, description="decoder layer whose output is steered")
    steering: PositiveFloat = Field(6.5, description="steering coefficient c")
    reduction: Literal["sum", "mean"] = Field(
        "sum", description="activation distance: sum over hidden units (paper) or mean (its code's mse_loss)")
    params: Literal["down_proj", "mlp"] = Field(
        "down_proj", description="train mlp.down_proj of layers l-2..l (WMDP's param_ids=[6]) or their whole MLP "
                                 "(gate, up and down)")
    adaptive_beta: PositiveFloat | None = Field(
        None, description="adaptive RMU: c = beta * the frozen model's mean activation norm at the layer on each "
                          "forget batch (Dang et al. 2024 use beta 5), instead of the fixed steering")
    positions: Literal["all", "answer"] = Field(
        "all", description="the tokens whose activations are steered and kept: every real token (paper and code, "
                           "on plain text) or the answer's tokens only (for chat-formatted question-answer data, "
                           "whose template tokens, attention sink included, are the same in forget and retain)")


class PDUSettings(PartSettings):
    positions: Literal["answer", "labels"] = Field(
        "answer", description="the logit margin at the positions that predict answer tokens (paper) or at the "
                              "answer tokens' own positions (open-unlearning's pdu.py)")


def _answer_logp(ctx, stream):
    """``(log p(y_t) [B, T], mask)`` at the stream's answer positions."""
    return ctx.token_values(stream, per_token.logprob)


def _maximize_entropy(ctx, args: MESettings):
    function, where = losses.ME_FORMS[args.form]
    return losses.maximize_entropy(*ctx.token_values("forget", function, where))


def _undial(ctx, args: UNDIALSettings):
    function = partial(per_token.undial_cross_entropy, strength=args.strength)
    return losses.token_mean(*ctx.token_values("forget", function, with_reference=True))


def _rmu_positions(args: RMUSettings) -> str:
    """The position set RMU's two terms read (``sequence``'s names; looked up when a step runs)."""
    return sequence.LABELLED if args.positions == "answer" else sequence.ATTENDED


def _rmu_forget(ctx, args: RMUSettings):
    where = _rmu_positions(args)
    hidden, mask = ctx.hidden("forget", where)
    return losses.activation_distance(hidden, ctx.rmu_target(hidden, args.steering, args.adaptive_beta, where), mask,
                                      args.reduction)


def _pdu_forget(ctx, args: PDUSettings):
    """The logit margin where the answer is predicted, or (``positions: labels``, open-unlearning's
    ``pdu.py``) at the answer tokens' own positions, one later."""
    where = sequence.LABELLED if args.positions == "labels" else sequence.ANSWER
    return losses.token_mean(*ctx.token_values("forget", per_token.squared_logit_margin, where))


def _rmu_retain(ctx, args: RMUSettings):
    where = _rmu_positions(args)
    hidden, mask = ctx.hidden("retain", where)
    reference, _ = ctx.reference_hidden("retain", where)
    return losses.activation_distance(hidden, reference, mask, args.reduction)


# RMU's optimisation as WMDP's rmu/unlearn.py runs it (AdamW at a constant 5e-5, batches of 4, no warmup,
# no weight decay); PDU's as its authors run it on TOFU (community/methods/PDU/run.sh): 10 epochs.
RMU_SCHEDULE = {"learning_rate": 5e-5, "batch_size": 4, "gradient_accumulation_steps": 1, "warmup_epochs": 0.0,
                "weight_decay": 0.0, "lr_schedule": "constant"}
PDU_SCHEDULE = {"epochs": 10.0}

FORGET_TERMS = {t.name: t for t in [
    Term("GA", "forget", ("forget",), lambda c, a: losses.gradient_ascent(*_answer_logp(c, "forget")),
         "gradient ascent on the forget answers"),
    Term("NPO", "forget", ("forget",),
         lambda c, a: losses.npo(c.logprob("forget"), c.reference_logprob("forget"), a.beta),
         "negative preference optimization against the cached reference", reference_logprobs=("forget",),
         settings=PreferenceSettings),
    Term("SimNPO", "forget", ("forget",),
         lambda c, a: losses.simnpo(c.logprob("forget"), c.lengths("forget"), a.beta, a.gamma),
         "length-normalized NPO without a reference", settings=SimNPOSettings),
    Term("IDK", "forget", ("forget_idk",), lambda c, a: losses.nll(*_answer_logp(c, "forget_idk")),
         "learn a refusal as the answer to forget questions"),
    Term("DPO", "forget", ("forget", "forget_idk"),
         lambda c, a: losses.dpo(c.logprob("forget_idk"), c.reference_logprob("forget_idk"),
                                 c.logprob("forget"), c.reference_logprob("forget"), a.beta),
         "prefer the refusal over the true answer", reference_logprobs=("forget", "forget_idk"),
         settings=PreferenceSettings),
    Term("ME", "forget", ("forget",), _maximize_entropy,
         "maximize the entropy of next-token distributions on forget text", settings=MESettings),
    Term("WGA", "forget", ("forget",),
         lambda c, a: losses.weighted_gradient_ascent(*_answer_logp(c, "forget"), a.alpha),
         "gradient ascent weighted by the detached token probability", settings=WGASettings),
    Term("SatImp", "forget", ("forget",),
         lambda c, a: losses.saturation_importance(*_answer_logp(c, "forget"), a.beta1, a.beta2),
         "gradient ascent weighted by p^beta1 * (1-p)^beta2 of the detached token probability",
         settings=SatImpSettings),
    Term("CE-U", "forget", ("forget",),
         lambda c, a: losses.token_mean(*c.token_values("forget", per_token.cross_entropy_without_true)),
         "cross-entropy to the model's own distribution without the true token"),
    Term("UNDIAL", "forget", ("forget",), _undial,
         "self-distillation on logits with the true token's logit lowered", frozen_model=True,
         settings=UNDIALSettings),
    Term("LLMU", "forget", ("forget", "forget_mismatch"),
         lambda c, a: losses.gradient_ascent(*_answer_logp(c, "forget"))
         + a.mismatch_weight * losses.nll(*_answer_logp(c, "forget_mismatch")),
         "gradient ascent plus learning random retain answers to forget questions", settings=LLMUSettings),
    Term("RMU", "forget", ("forget",), _rmu_forget,
         "steer layer activations on forget text to a scaled random vector", full_weights_only=True,
         settings=RMUSettings, training_defaults=RMU_SCHEDULE),
    Term("PDU", "forget", ("forget",), _pdu_forget,
         "flatten the logits on forget answers (max minus mean, squared), retain loss bounded by a dual variable "
         "(needs dual.epsilon)", settings=PDUSettings, training_defaults=PDU_SCHEDULE,
         # the dual variable stays fixed for the first 5 epochs (open-unlearning's configs/trainer/PDU.yaml)
         part_defaults={"dual": {"warmup_epochs": 5.0}}, needs_dual_bound=True),
]}

REGULARIZERS = {t.name: t for t in [
    Term("GD", "regularizer", ("retain",), lambda c, a: losses.nll(*_answer_logp(c, "retain")),
         "keep the retain answers likely (gradient descent)"),
    Term("KL", "regularizer", ("retain",),
         lambda c, a: losses.token_mean(*c.token_values("retain", per_token.kl_from_reference,
                                                         with_reference=True)),
         "stay close to the frozen model on retain answers", frozen_model=True),
    Term("AP", "regularizer", ("retain", "retain_idk"),
         lambda c, a: losses.answer_preservation(c.logprob("retain_idk"), c.logprob("retain"), a.beta),
         "answer preservation: keep refusals below true answers on retain questions", settings=PreferenceSettings),
    Term("RMU", "regularizer", ("retain",), _rmu_retain,
         "keep layer activations on retain text equal to the frozen model's", frozen_model=True,
         full_weights_only=True, settings=RMUSettings),
]}


class DualSettings(PartSettings):
    """PDU's primal-dual update of the regularizer weight, with any FORGET+REGULARIZER."""

    epsilon: NonNegativeFloat | None = Field(
        None, description="bound on the regularizer (retain loss): b becomes a dual variable starting at the "
                          "regularizer weight; needed by method PDU (the authors use 0.3 on TOFU)")
    step: PositiveFloat = Field(1.0, description="step size of the dual ascent on b")
    warmup_epochs: NonNegativeFloat = Field(0.0, description="epochs before b starts to move (method PDU: 5)")




class SaliencySettings(PartSettings):
    """``mask: saliency``: train only the weights most salient to the forget data (WAGLE-style)."""

    ratio: float = Field(0.95, gt=0.0, le=1.0, description="share of weights trained (WAGLE's TOFU config 0.95; "
                                                           "WMDP 0.6)")
    mu: PositiveFloat = Field(1e-6, description="WAGLE's mu in |(theta - g_r/mu) * g_f| (their configs' 1e-6)")


DEFAULT_REGULARIZER = {"RMU": "RMU", "PDU": "GD"}  # each is defined with its retain term

# (a, b) in a*forget + b*regularizer where the seed paper or the method's authors fix them; (1, 1) otherwise.
# SatImp: open-unlearning's configs/trainer/SatImp.yaml (gamma 0.1 on the forget term, alpha 1 on the retain
# NLL); PDU: b is the dual variable, starting at lambda0 = 100 (the authors' TOFU runs, community/methods/PDU/run.sh).
DEFAULT_WEIGHTS = {"ME+GD": (0.1, 1.0), "RMU": (1.0, 1200.0), "SatImp": (0.1, 1.0), "PDU": (1.0, 100.0)}


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
                        f"{', '.join(FAMILY_METHODS)}")
    regularizer_name = regularizer_name or DEFAULT_REGULARIZER.get(forget_name, "")
    if regularizer_name and regularizer_name not in REGULARIZERS:
        raise UserError(f"unknown regularizer '{regularizer_name}' in method '{name}' "
                        f"(valid: {', '.join(REGULARIZERS)})")
    return Method(name, FORGET_TERMS[forget_name], REGULARIZERS.get(regularizer_name))


def default_weights(method: Method) -> tuple[float, float]:
    return DEFAULT_WEIGHTS.get(method.name, DEFAULT_WEIGHTS.get(method.forget.name, (1.0, 1.0)))


def method_parts(name: str, mask: str = "none") -> dict[str, type[PartSettings]]:
    """The parts of method ``name`` that own settings, by part name: its terms (or its family method),
    ``dual`` with any FORGET+REGULARIZER, ``saliency`` under ``mask: saliency``."""
    if name in FAMILY_METHODS:
        chosen = FAMILY_METHODS[name]
        return {chosen.name: chosen.settings} if chosen.settings else {}
    method = parse_method(name)
    parts = {t.name: t.settings for t in method.terms if t.settings}
    if method.regularizer is not None:
        parts["dual"] = DualSettings
    if mask == "saliency":
        parts["saliency"] = SaliencySettings
    return parts


def part_defaults(name: str) -> dict[str, dict]:
    """The settings method ``name``'s forget term gives its other parts where the user set none."""
    forget_name = name.partition("+")[0]
    return FORGET_TERMS[forget_name].part_defaults if forget_name in FORGET_TERMS else {}


def training_defaults(name: str) -> dict:
    """The optimizer settings method ``name``'s authors use (RMU's, PDU's schedules, ULD's assistant)."""
    if name in FAMILY_METHODS:
        return FAMILY_METHODS[name].training_defaults
    forget_name = name.partition("+")[0]
    return FORGET_TERMS[forget_name].training_defaults if forget_name in FORGET_TERMS else {}


def every_part() -> dict[str, tuple[type[PartSettings], str]]:
    """Every part that owns settings, with what uses it, for the command line's flags and the docs."""
    parts: dict[str, tuple[type[PartSettings], list[str]]] = {}
    for term in [*FORGET_TERMS.values(), *REGULARIZERS.values()]:
        if term.settings:
            parts.setdefault(term.name, (term.settings, []))[1].append(term.role)
    described = {name: (model, f"{name} {' and '.join(roles)} term") for name, (model, roles) in parts.items()}
    described["dual"] = (DualSettings, "PDU's dual update, with any FORGET+REGULARIZER")
    described["saliency"] = (SaliencySettings, "with --mask saliency")
    for chosen in FAMILY_METHODS.values():
        if chosen.settings:
            described[chosen.name] = (chosen.settings, f"method {chosen.name}")
    return described


def reads_retain(name: str) -> bool:
    """Whether method ``name`` (of any family) trains on or reads the retain split."""
    if name in FAMILY_METHODS:
        return FAMILY_METHODS[name].needs_retain
    return parse_method(name).needs_retain


def inference_cost(name: str) -> str:
    return FAMILY_METHODS[name].inference_cost if name in FAMILY_METHODS else ONE_MODEL


def method_table() -> str:
    """A readable list of every method and the flags of its own settings, for ``unlearn forget --list-methods``."""
    shown: set[str] = set()

    def settings_lines(part: str, model: type[PartSettings] | None, indent: int) -> list[str]:
        if model is None or part in shown:  # RMU's settings serve both of its terms
            return []
        shown.add(part)
        return [f"{' ' * indent}{part_flag(part, n)} (default {f.default}): {f.description}"
                for n, f in model.model_fields.items()]

    lines = [f"direct fine-tuning and RMU (cost at inference: {ONE_MODEL}); forget terms:"]
    for t in FORGET_TERMS.values():
        lines += [f"  {t.name:<8} {t.summary}", *settings_lines(t.name, t.settings, 11)]
    lines += ["regularizers (append with +, e.g. NPO+GD):"]
    for t in REGULARIZERS.values():
        lines += [f"  {t.name:<8} {t.summary}", *settings_lines(t.name, t.settings, 11)]
    lines += ["with any FORGET+REGULARIZER, PDU's dual update:", *settings_lines("dual", DualSettings, 4),
              "with --mask saliency:", *settings_lines("saliency", SaliencySettings, 4)]
    lines += ["other families (use alone, e.g. --method ULD):"]
    for p in FAMILY_METHODS.values():
        lines += [f"  {p.name:<16} [{p.family}] {p.summary}", f"  {'':<16} inference: {p.inference_cost}",
                  *settings_lines(p.name, p.settings, 19)]
    return "\n".join(lines)
