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


def scored_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The positions whose logits any answer-scored term reads, and the labels they predict.

    Returns ``keep`` [B, K+1] (positions, for a causal LM's ``logits_to_keep``) and ``compact`` [B, K+1]
    labels with ``K`` the longest answer in the batch, laid out so that ``shift(logits[:, keep], compact)``
    pairs exactly the same (logit, label) couples as ``shift(logits, labels)``: ``compact[:, 0]`` is ignored,
    ``compact[:, j + 1] = labels[:, keep[:, j] + 1]``. A row with a shorter answer repeats one of its
    positions with an ignored label, and the last column only feeds the position that ``shift`` drops.
    Every loss of an answer-scored term is then unchanged, while the vocabulary projection (and its
    log-softmax and gradient, the largest tensors of a step) runs on ``K + 1`` positions instead of ``L``.
    """
    scored = labels[:, 1:] != IGNORE_INDEX  # position t predicts labels[:, t + 1]
    counts = scored.sum(-1)
    width = max(int(counts.max()), 1) if labels.shape[0] else 1
    order = torch.sort((~scored).to(torch.int8), dim=-1, stable=True).indices[:, :width]  # scored first, in order
    used = torch.arange(width, device=labels.device) < counts[:, None]
    positions = torch.where(used, order, order[:, :1])
    keep = torch.cat([positions, positions[:, :1]], dim=-1)
    targets = labels.gather(-1, (positions + 1).clamp(max=labels.shape[1] - 1)).masked_fill(~used, IGNORE_INDEX)
    compact = torch.cat([torch.full_like(targets[:, :1], IGNORE_INDEX), targets], dim=-1)
    return keep, compact
