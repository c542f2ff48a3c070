"""The vocabulary projection a chunk of positions at a time, so whole-batch logits never exist.

The logits of a step (positions x vocabulary, 49,152 columns for SmolLM2, 128,256 for Llama 3)
and their log-softmax and gradient are the largest tensors of a training step. Here the loss's
per-position values are computed from the final hidden states ``chunk`` positions at a time, each
chunk under activation checkpointing: its logits are freed as soon as its values exist and
recomputed, one chunk at a time, in the backward pass. The gradient is the same sum; the cost is
one more projection of each chunk.

This holds only where the model's logits are ``output_embeddings(final hidden state)``, which
``projects_plainly`` checks once per model (models that soft-cap or scale their logits fall back to
the model's own forward).
"""

from __future__ import annotations

import logging
import weakref

import torch
from torch.utils.checkpoint import checkpoint

log = logging.getLogger(__name__)

_PLAIN: "weakref.WeakKeyDictionary[torch.nn.Module, bool]" = weakref.WeakKeyDictionary()


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DistributedDataParallel (whose parameters and modules are the same objects)."""
    while isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    return model


def output_head(model: torch.nn.Module) -> torch.nn.Module:
    return unwrap(model).get_output_embeddings()


def projects_plainly(model: torch.nn.Module, output) -> bool:
    """Whether ``output.logits`` (the last position's, from ``logits_to_keep=1``) equal the output
    embeddings applied to the last hidden state; checked on the first batch a model meets."""
    model = unwrap(model)
    if model not in _PLAIN:
        head = model.get_output_embeddings()
        plain = head is not None and output.hidden_states is not None
        if plain:
            with torch.no_grad():
                projected = head(output.hidden_states[-1][:, -1:])
            plain = projected.shape == output.logits.shape and torch.allclose(
                projected.float(), output.logits.float(), rtol=1e-3, atol=1e-3)
        if not plain:
            log.warning("%s does not compute its logits as output_embeddings(last hidden state): the loss is "
                        "computed from the model's own logits (no chunking)", type(model).__name__)
        _PLAIN[model] = plain
    return _PLAIN[model]


def project_in_chunks(head, function, hidden: torch.Tensor, targets: torch.Tensor, chunk: int,
                      reference_hidden: torch.Tensor | None = None, reference_head=None) -> torch.Tensor:
    """``function(head(hidden), targets, reference_head(reference_hidden))`` [N] with at most ``chunk``
    positions' logits alive at once (``reference_head`` runs without gradients)."""

    def values(h, y, r):
        if r is None:
            return function(head(h), y, None)
        with torch.no_grad():
            reference_logits = reference_head(r)
        return function(head(h), y, reference_logits)

    count = hidden.shape[0]
    if count <= chunk:
        return values(hidden, targets, reference_hidden)
    pieces = []
    for start in range(0, count, chunk):
        part = slice(start, start + chunk)
        reference_part = reference_hidden[part] if reference_hidden is not None else None
        pieces.append(checkpoint(values, hidden[part], targets[part], reference_part, use_reentrant=False))
    return torch.cat(pieces)
