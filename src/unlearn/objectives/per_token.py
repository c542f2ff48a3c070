"""What each logit-reading loss computes at one position, as a pure function of that position's logits.

Every function maps ``logits`` [N, V] (N positions, any order), their ``targets`` [N] (the token each
position predicts; unused by some) and, for distillation terms, the frozen model's ``reference`` logits
[N, V] to one value per position [N]. A loss is then a reduction of these values over a set of
positions (``losses``), so the step can compute them a chunk of positions at a time and never hold
the logits of a whole batch (``training.step_context``). Logits are upcast to fp32 first.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def logprob(logits: torch.Tensor, targets: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
    """``log p_t(y_t) = z_t[y_t] - logsumexp_v z_t,v``: the target token's log-probability."""
    return -F.cross_entropy(logits.float(), targets, reduction="none")


def kl_to_uniform(logits: torch.Tensor, targets=None, reference=None) -> torch.Tensor:
    """``KL(p_t || U) = log V - H(p_t) = log V + sum_v p_t,v log p_t,v`` (ME, the paper's form)."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return math.log(log_probs.shape[-1]) + (log_probs.exp() * log_probs).sum(-1)


def kl_from_uniform(logits: torch.Tensor, targets=None, reference=None) -> torch.Tensor:
    """``KL(U || p_t) = -log V - (1/V) sum_v log p_t,v`` (ME, the released code's form; ULD's assistant)."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return -math.log(log_probs.shape[-1]) - log_probs.mean(-1)


def cross_entropy_without_true(logits: torch.Tensor, targets: torch.Tensor, reference=None) -> torch.Tensor:
    """CE-U: ``-sum_v q_t,v log p_t,v`` with ``q_t = softmax(z_t)`` after ``z_t[y_t] = -inf``, z detached."""
    target_logits = logits.detach().float().scatter(-1, targets.unsqueeze(-1), float("-inf"))
    return -(torch.softmax(target_logits, -1) * torch.log_softmax(logits.float(), -1)).sum(-1)


def undial_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reference: torch.Tensor,
                         strength: float = 10.0) -> torch.Tensor:
    """UNDIAL: ``CE(softmax(z_ref,t - strength * onehot(y_t)), p_t)``: distillation towards the frozen
    model with the true token's logit lowered."""
    reference = reference.float()
    adjusted = reference - strength * F.one_hot(targets, reference.shape[-1]).to(reference.dtype)
    return -(torch.softmax(adjusted, -1) * torch.log_softmax(logits.float(), -1)).sum(-1)


def kl_from_reference(logits: torch.Tensor, targets, reference: torch.Tensor) -> torch.Tensor:
    """``KL(p_ref,t || p_t) = sum_v p_ref,t,v (log p_ref,t,v - log p_t,v)`` (the KL regularizer)."""
    log_p = torch.log_softmax(logits.float(), -1)
    log_ref = torch.log_softmax(reference.float(), -1)
    return (log_ref.exp() * (log_ref - log_p)).sum(-1)


def squared_logit_margin(logits: torch.Tensor, targets=None, reference=None) -> torch.Tensor:
    """PDU: ``(max_v z_t,v - mean_v z_t,v)^2``, 0 exactly when every logit is equal (no softmax)."""
    logits = logits.float()
    return (logits.max(-1).values - logits.mean(-1)).pow(2)
