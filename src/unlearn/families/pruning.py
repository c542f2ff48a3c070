"""Selective pruning (Pochinkov & Schoots 2024): remove the MLP neurons the forget data uses most.

A neuron's importance on a dataset is its mean absolute activation (the input of the MLP's down
projection) over the tokens with labels; the score is forget importance over retain importance.
The ``prune_ratio`` share of neurons with the highest score, over all layers, is zeroed (its
column of ``down_proj``), so it no longer writes to the residual stream. No gradients: a few
forward passes. The result is one plain model. The authors prune in steps, recomputing the
activations after each (``recalculate_activations``); this is their one-step form, at their
scripts' share of 0.02.
"""

from __future__ import annotations

import torch

from unlearn.data.benchmark import Benchmark
from unlearn.data.collate import PadCollator
from unlearn.data.formatting import IGNORE_INDEX, tokenize_split
from unlearn.errors import UserError
from unlearn.models.loading import save_model
from unlearn.training.common import prepare_model

EPSILON = 1e-3  # the authors' ff_eps (nickypro/taker)


def pruning_scores(forget_importance: torch.Tensor, retain_importance: torch.Tensor) -> torch.Tensor:
    """``score = I_forget / (I_retain + epsilon)`` per neuron."""
    return forget_importance / (retain_importance + EPSILON)


def neurons_to_prune(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """A boolean mask of the ``round(ratio * scores.numel())`` highest scores (over every layer)."""
    count = round(ratio * scores.numel())
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    if count:
        mask[scores.flatten().topk(count).indices] = True
    return mask.view_as(scores)


def down_projections(model) -> list[torch.nn.Linear]:
    layers = model.get_decoder().layers
    projections = [getattr(getattr(layer, "mlp", None), "down_proj", None) for layer in layers]
    if any(p is None for p in projections):
        raise UserError("SelectivePruning needs decoder layers with mlp.down_proj (Llama, Mistral, Qwen, ...)")
    return projections


@torch.no_grad()
def mean_abs_activation(model, encoded, pad_id: int, batch_size: int) -> torch.Tensor:
    """``[layers, neurons]``: mean |input of down_proj| over the tokens that carry labels."""
    projections = down_projections(model)
    sums = torch.zeros(len(projections), projections[0].in_features, dtype=torch.float64)
    count = 0
    mask_holder = {}

    def hook(index):
        def record(_module, inputs):
            values = inputs[0].abs().double()
            sums[index] += (values * mask_holder["mask"].unsqueeze(-1)).sum((0, 1)).cpu()
        return record

    handles = [p.register_forward_pre_hook(hook(i)) for i, p in enumerate(projections)]
    device = next(model.parameters()).device
    collate = PadCollator(pad_id)
    rows = encoded.select_columns(["input_ids", "attention_mask", "labels"])
    try:
        model.eval()
        for start in range(0, len(rows), batch_size):
            batch = {k: v.to(device) for k, v in collate([rows[i] for i in range(start, min(start + batch_size,
                                                                                              len(rows)))]).items()}
            mask_holder["mask"] = (batch["labels"] != IGNORE_INDEX).double()
            count += int(mask_holder["mask"].sum())
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    finally:
        for handle in handles:
            handle.remove()
    return (sums / max(1, count)).float()


def build(settings, out, name: str) -> dict:
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    model, tokenizer, fmt, max_length = prepare_model(settings.model_copy(update={"lora": False}))  # whole neurons
    importance = {}
    for role, split in (("forget", settings.forget), ("retain", settings.retain)):
        encoded = tokenize_split(benchmark.split(split), tokenizer, fmt, max_length, name=split)
        importance[role] = mean_abs_activation(model, encoded, tokenizer.pad_token_id, settings.batch_size)
    pruned = neurons_to_prune(pruning_scores(importance["forget"], importance["retain"]), settings.prune_ratio)
    with torch.no_grad():
        for projection, layer_mask in zip(down_projections(model), pruned):
            projection.weight[:, layer_mask.to(projection.weight.device)] = 0
    save_model(model, tokenizer, out)
    return {"prune_ratio": settings.prune_ratio, "neurons_pruned": int(pruned.sum()),
            "neurons_pruned_per_layer": pruned.sum(-1).tolist()}
