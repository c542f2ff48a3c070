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


ANSWER = "answer"  # t whose next token is an answer token (labels[t + 1] counts); it predicts labels[t + 1]
LABELLED = "labelled"  # t whose own token is an answer token (labels[t] counts)
ATTENDED = "attended"  # t that is a real token (attention_mask[t] == 1): question and answer
BEFORE_ATTENDED = "before_attended"  # t < L - 1 whose next token is real (attention_mask[t + 1] == 1)


def position_mask(where: str, labels: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mask, targets)``, both [B, L]: which positions a term reads and the token each predicts
    (``labels[:, t + 1]``, 0 where there is none)."""
    targets = torch.zeros_like(labels)
    targets[:, :-1] = labels[:, 1:].clamp(min=0)
    mask = torch.zeros_like(labels, dtype=torch.bool)
    if where == ANSWER:
        mask[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    elif where == LABELLED:
        mask = labels != IGNORE_INDEX
    elif where == ATTENDED:
        mask = attention_mask.bool()
    elif where == BEFORE_ATTENDED:
        mask[:, :-1] = attention_mask[:, 1:].bool()
    else:
        raise ValueError(f"unknown position set {where!r}")
    return mask, targets


def to_grid(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Values of the ``mask``'s positions (flat, row-major, as ``tensor[mask]`` orders them) laid out
    as ``[B, T]`` rows, ``T`` the most positions of any row, with the mask of filled slots."""
    counts = mask.sum(-1)
    width = int(counts.max()) if mask.numel() else 0
    rows = torch.arange(mask.shape[0], device=mask.device).repeat_interleave(counts)
    slots = torch.arange(values.shape[0], device=mask.device) - (counts.cumsum(0) - counts).repeat_interleave(counts)
    grid = values.new_zeros(mask.shape[0], width).index_put((rows, slots), values)
    filled = torch.arange(width, device=mask.device) < counts[:, None]
    return grid, filled


def values_at(function, where: str, logits: torch.Tensor, labels: torch.Tensor,
              attention_mask: torch.Tensor | None = None,
              reference_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``per_token`` function at a position set, from whole-batch logits [B, L, V] (the plain
    computation the training step reproduces chunk by chunk): ``(values [B, T], mask [B, T])``."""
    if attention_mask is None:
        attention_mask = torch.ones_like(labels)
    mask, targets = position_mask(where, labels, attention_mask)
    reference = reference_logits[mask] if reference_logits is not None else None
    return to_grid(function(logits[mask], targets[mask], reference), mask)
