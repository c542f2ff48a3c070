"""Every unlearning loss term as a pure function of per-position values; equations follow DESIGN.md.

Notation: ``logp(y|x)`` the summed answer log-probability of a sequence, ``|y|`` its answer
length, ``nll`` the token-mean negative log-likelihood, ``sigma`` the logistic function. Terms that
read logits take the values of a ``per_token`` function at a set of positions (``[B, T]`` with the
``mask`` of counted ones), so the step never needs a whole batch's logits at once. Each function
returns a scalar to *minimize*.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from unlearn.objectives import per_token
from unlearn.objectives.sequence import ATTENDED, BEFORE_ATTENDED, masked_mean


def gradient_ascent(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """GA: ``-nll(y|x) = mean_t log p(y_t)`` over the batch's answer tokens (minimizing it raises the
    forget NLL). ``logp``: ``per_token.logprob`` at the answer positions, ``mask`` the counted ones."""
    return masked_mean(logp, mask)


def nll(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``nll(y|x) = -mean_t log p(y_t)`` pooled over the batch's answer tokens: GD on retain data, IDK on
    (forget question, refusal) pairs, and LLMU's random mismatch on (forget question, random retain
    answer) pairs."""
    return -masked_mean(logp, mask)


def npo(logp: torch.Tensor, logp_ref: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """NPO: ``-(2/beta) * mean log sigma(-beta * (logp_theta(y|x) - logp_ref(y|x)))``."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - logp_ref)).mean()


def simnpo(logp: torch.Tensor, lengths: torch.Tensor, beta: float = 2.5, gamma: float = 0.0) -> torch.Tensor:
    """SimNPO: ``-(2/beta) * mean log sigma(-(beta/|y|) * logp_theta(y|x) - gamma)`` (no reference model)."""
    return -(2.0 / beta) * F.logsigmoid(-(beta / lengths.clamp(min=1)) * logp - gamma).mean()


def dpo(logp_win: torch.Tensor, logp_win_ref: torch.Tensor, logp_lose: torch.Tensor, logp_lose_ref: torch.Tensor,
        beta: float = 0.1) -> torch.Tensor:
    """DPO with the refusal preferred (win) over the true answer (lose):
    ``-(2/beta) * mean log sigma(beta * ((logp_theta - logp_ref)(win) - (logp_theta - logp_ref)(lose)))``."""
    margin = (logp_win - logp_win_ref) - (logp_lose - logp_lose_ref)
    return -(2.0 / beta) * F.logsigmoid(beta * margin).mean()


def answer_preservation(logp_refusal: torch.Tensor, logp_answer: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """AP (retain regularizer): ``-(1/beta) * mean log sigma(-beta * (logp_theta(y_idk|x) - logp_theta(y|x)))``.

    It pushes the refusal's likelihood below the true answer's on retain questions, so a
    model taught to say "I don't know" on forget data keeps answering the rest.
    """
    return -(1.0 / beta) * F.logsigmoid(-beta * (logp_refusal - logp_answer)).mean()


def maximize_entropy(divergence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ME: mean divergence of each next-token distribution from the uniform one over K tokens.

    ``paper`` (default, the ICLR 2025 text): ``mean_t KL(P_t || U) = mean_t (log K - H(P_t))``
    (``per_token.kl_to_uniform``) over the positions of question and answer tokens
    (``attention_mask[:, t] == 1``, the ``ATTENDED`` positions).

    ``code`` (the authors' released code, ``get_me_loss`` in sail-sg/closer-look-LLM-unlearning):
    ``mean_t KL(U || P_t) = mean_t (-log K - (1/K) sum_k log P_t,k)`` (``per_token.kl_from_uniform``)
    over t = 0..L-2 with ``attention_mask[:, t + 1] == 1`` (the ``BEFORE_ATTENDED`` positions): as
    there, position t counts when the token it predicts (its shifted label) is kept, and their ME+GD
    keeps question and answer tokens, never padding, which here is what the attention mask marks. The
    last position predicts nothing and never counts; the first counts iff token 1 is real. We take
    ``log_softmax`` where that code takes ``log(softmax + 1e-12)``: the probabilities differ by 1e-12
    absolute, so each log term by ``log(1 + 1e-12 / P_t,k) < 1e-12 / P_t,k`` (under 1e-9 wherever every
    P_t,k > 1e-3); only where a probability falls to about 1e-12 or below does the epsilon matter: it
    caps ``log P`` near ``log 1e-12 = -27.6``, while ``log_softmax`` keeps the exact value.
    """
    return masked_mean(divergence, mask)


ME_FORMS = {"paper": (per_token.kl_to_uniform, ATTENDED), "code": (per_token.kl_from_uniform, BEFORE_ATTENDED)}


def weighted_gradient_ascent(logp: torch.Tensor, mask: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """WGA: ``mean_t w_t * log p(y_t)`` with ``w_t = p(y_t)^alpha`` detached (ascent slows on forgotten tokens)."""
    weight = (logp.detach() * alpha).exp()
    return masked_mean(weight * logp, mask)


def saturation_importance(logp: torch.Tensor, mask: torch.Tensor, beta1: float = 5.0,
                          beta2: float = 1.0) -> torch.Tensor:
    """SatImp (Yang et al. 2025; open-unlearning's ``compute_satimp_loss``): ``mean_t w_t * log p(y_t)``
    with ``w_t = p^beta1 * (1 - p)^beta2``, ``p = p(y_t)`` detached, the mean pooled over the batch's
    answer tokens: ascent weighted towards tokens still likely (``p^beta1``) and away from those
    already certain (``(1 - p)^beta2``). The method's weights (forget 0.1, retain 1) are in ``forget``."""
    p = logp.detach().exp()
    weight = p.pow(beta1) * (1 - p).clamp(min=0).pow(beta2)
    return masked_mean(weight * logp, mask)


def token_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean_t v_t`` pooled over the batch's counted positions: CE-U (``per_token.cross_entropy_without_true``),
    UNDIAL (``per_token.undial_cross_entropy``), the KL regularizer (``per_token.kl_from_reference``),
    ULD's uniform assistant (``per_token.kl_from_uniform``) and PDU (``per_token.squared_logit_margin``)
    at the answer positions."""
    return masked_mean(values, mask)


def activation_distance(hidden: torch.Tensor, target: torch.Tensor, attention_mask: torch.Tensor,
                        reduction: Literal["sum", "mean"] = "sum") -> torch.Tensor:
    """RMU's distance between layer activations and a target, averaged over real tokens.

    ``sum`` (the WMDP paper): ``mean_t ||h_t - target_t||_2^2``; ``mean`` (its code's
    ``mse_loss``): the same divided by the hidden size. Forget: target = ``c * u``;
    retain: target = the frozen model's activations.
    """
    squared = (hidden.float() - target.float()).pow(2)
    per_token = squared.sum(-1) if reduction == "sum" else squared.mean(-1)
    return masked_mean(per_token, attention_mask)


def adaptive_steering_coefficient(frozen_hidden: torch.Tensor, attention_mask: torch.Tensor,
                                  beta: float) -> torch.Tensor:
    """Adaptive RMU's c (Dang et al. 2024): ``beta * mean_t ||h_t^frozen||_2`` over the batch's real
    tokens, the frozen model's activations at the steered layer on forget text (a constant of the step)."""
    return beta * masked_mean(frozen_hidden.detach().float().norm(dim=-1), attention_mask)


def dual_ascent(multiplier: float, constraint_value: float, epsilon: float, step: float) -> float:
    """PDU's dual update: ``lambda <- max(0, lambda + step * (retain_loss - epsilon))``.

    The primal loss is ``forget + lambda * retain``: while the retain loss is above its bound
    ``epsilon`` the multiplier grows, and it decays to 0 once the constraint holds."""
    return max(0.0, multiplier + step * (constraint_value - epsilon))
