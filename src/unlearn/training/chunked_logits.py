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

On CUDA, where Apple's cut-cross-entropy is installed (``pip install llm-unlearn[cce]``), the target
token's log-probability (the only value NLL, GA, NPO, DPO, WGA, SatImp and AP read) comes from its
fused kernel instead, which never writes any logits to memory; gradient filtering is off, so the
gradient is exact. Not exercised on this project's CPU machines (the kernel needs CUDA and Triton).
"""

from __future__ import annotations

import logging
import weakref

import torch
from torch.utils.checkpoint import checkpoint

from unlearn.objectives import per_token

log = logging.getLogger(__name__)

_PLAIN: weakref.WeakKeyDictionary[torch.nn.Module, bool] = weakref.WeakKeyDictionary()


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DistributedDataParallel (whose parameters and modules are the same objects)."""
    while isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    return model


def output_head(model: torch.nn.Module) -> torch.nn.Module:
    return unwrap(model).get_output_embeddings()


def projects_plainly(model: torch.nn.Module, forward) -> bool:
    """Whether ``forward().logits`` (the last position's, from ``logits_to_keep=1``) equal the output
    embeddings applied to the last hidden state; checked on the first batch a model meets (``forward``
    runs only then)."""
    model = unwrap(model)
    if model not in _PLAIN:
        output = forward()
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


def fused_logprob(head, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | None:
    """``log p(y_t)`` [N] by cut-cross-entropy's fused kernel, or None where it does not apply (not
    CUDA, not installed, or an output layer other than a plain bias-free ``nn.Linear``)."""
    if not hidden.is_cuda or type(head) is not torch.nn.Linear or head.bias is not None:
        return None
    try:
        from cut_cross_entropy import linear_cross_entropy
    except ImportError:
        return None
    return -linear_cross_entropy(hidden, head.weight, targets, reduction="none", filter_eps=None).float()


def project_in_chunks(head, function, hidden: torch.Tensor, targets: torch.Tensor, chunk: int,
                      reference_hidden: torch.Tensor | None = None, reference_head=None) -> torch.Tensor:
    """``function(head(hidden), targets, reference_head(reference_hidden))`` [N] with at most ``chunk``
    positions' logits alive at once (``reference_head`` runs without gradients)."""
    if function is per_token.logprob:
        fused = fused_logprob(head, hidden, targets)
        if fused is not None:
            return fused

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
