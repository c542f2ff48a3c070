"""Per-token and per-sequence log-probabilities from logits and labels (pure tensor math).

Causal LM convention: ``logits[:, t]`` predicts ``labels[:, t + 1]``; positions whose label
is ``IGNORE_INDEX`` (prompt, padding) do not count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unlearn.data.formatting import IGNORE_INDEX


def shift(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(logits[:, :-1], labels[:, 1:] with ignored set to 0, mask)`` aligned for scoring."""
    shifted_logits = logits[:, :-1, :]
    shifted_labels = labels[:, 1:]
    mask = shifted_labels != IGNORE_INDEX
    return shifted_logits, shifted_labels.masked_fill(~mask, 0), mask


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log p(y_t | y_<t, x)`` for every scored position, and the mask of scored positions."""
    shifted_logits, targets, mask = shift(logits, labels)
    logp = torch.log_softmax(shifted_logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return logp * mask, mask


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed log-probability of each sequence's answer: ``log p(y|x) = sum_t log p(y_t|...)``, shape [B]."""
    logp, _ = token_logprobs(logits, labels)
    return logp.sum(-1)


def answer_lengths(labels: torch.Tensor) -> torch.Tensor:
    """``|y|``: scored tokens per sequence, shape [B]."""
    return (labels[:, 1:] != IGNORE_INDEX).sum(-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum(values * mask) / sum(mask)``: the mean over counted positions (0 if there are none)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def mean_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``nll(y|x)`` pooled over the batch: total answer NLL / total answer tokens (the HF causal-LM loss)."""
    shifted_logits, targets, mask = shift(logits, labels)
    losses = F.cross_entropy(shifted_logits.float().transpose(1, 2), targets, reduction="none")
    return masked_mean(losses, mask)
