"""Selective pruning (Pochinkov & Schoots 2024): remove the MLP neurons the forget data uses most.

A neuron's importance on a dataset is its mean absolute activation (the input of the MLP's down
projection) over the tokens with labels; its score is forget importance over retain importance
plus epsilon. Pruning is iterative, as the paper's algorithm and the authors' code
(nickypro/taker ``run_pruning`` with ``recalculate_activations``) run it: each step zeroes the
``prune_ratio`` share of *all* MLP neurons with the highest scores among those still in place (its
column of ``down_proj``, so it no longer writes to the residual stream), then the activations and
scores are measured again on the pruned model. The paper repeats until a stopping criterion is
met; taker runs a fixed number of steps. Here a step is taken, then the loop stops once the forget
answers' top-1 next-token accuracy has fallen by ``prune_target_drop`` of its start (the paper's
forget metric is top-1 accuracy), or after ``prune_max_steps``. No gradients: forward passes only.
The result is one plain model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from unlearn.data.benchmark import Benchmark
from unlearn.data.collate import PadCollator
from unlearn.data.formatting import IGNORE_INDEX, tokenize_split
from unlearn.errors import UserError
from unlearn.models.loading import save_model
from unlearn.training.common import prepare_model

if TYPE_CHECKING:
    from pathlib import Path

    from unlearn.families import PruningSettings
    from unlearn.training.forget_settings import ForgetSettings


EPSILON = 1e-3  # the authors' ff_eps (nickypro/taker)


def pruning_scores(forget_importance: torch.Tensor, retain_importance: torch.Tensor) -> torch.Tensor:
    """``score = I_forget / (I_retain + epsilon)`` per neuron."""
    return forget_importance / (retain_importance + EPSILON)


def neurons_to_prune(scores: torch.Tensor, ratio: float, pruned: torch.Tensor | None = None) -> torch.Tensor:
    """A boolean mask of the ``floor(ratio * scores.numel())`` highest scores over every layer (as
    taker's ``get_top_frac``; at least one, where taker would prune none), chosen among the neurons
    not ``pruned`` already."""
    count = max(1, int(ratio * scores.numel()))
    flat = scores.flatten().float()
    if pruned is not None:
        flat = flat.masked_fill(pruned.flatten(), float("-inf"))
        count = min(count, int((~pruned).sum()))
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    if count:
        mask[flat.topk(count).indices] = True
    return mask.view_as(scores)


def reached_target(start: float, now: float, target_drop: float) -> bool:
    """Stop when ``now <= (1 - target_drop) * start``: accuracy has fallen by ``target_drop`` of its start."""
    return now <= (1.0 - target_drop) * start


def down_projections(model) -> list[torch.nn.Linear]:
    layers = model.get_decoder().layers
    projections = [getattr(getattr(layer, "mlp", None), "down_proj", None) for layer in layers]
    if any(p is None for p in projections):
        raise UserError("SelectivePruning needs decoder layers with mlp.down_proj (Llama, Mistral, Qwen, ...)")
    return projections


def top1_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """``(correct, scored)``: answer tokens whose argmax prediction (from the position before) is right."""
    scored = labels[:, 1:] != IGNORE_INDEX
    return int(((logits[:, :-1].argmax(-1) == labels[:, 1:]) & scored).sum()), int(scored.sum())


@torch.no_grad()
def measure(model, encoded, pad_id: int, batch_size: int) -> tuple[torch.Tensor, float]:
    """``([layers, neurons] mean |input of down_proj| over the labelled tokens, top-1 answer accuracy)``."""
    projections = down_projections(model)
    sums = torch.zeros(len(projections), projections[0].in_features, dtype=torch.float64)
    tokens = correct = scored = 0
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
            tokens += int(mask_holder["mask"].sum())
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            right, counted = top1_accuracy(logits, batch["labels"])
            correct, scored = correct + right, scored + counted
    finally:
        for handle in handles:
            handle.remove()
    return (sums / max(1, tokens)).float(), correct / max(1, scored)


def prune_iteratively(measure, prune, ratio: float, target_drop: float, max_steps: int):
    """The selective-pruning loop. ``measure()`` gives ``(forget importance, retain importance, forget
    top-1 accuracy, retain top-1 accuracy)`` of the model as it is now; ``prune(mask)`` zeroes those
    neurons. Each step prunes by the current scores, then measures again; the loop stops when the
    forget accuracy has fallen by ``target_drop`` of its start, or after ``max_steps``.
    Returns ``(pruned mask, history)``, one history row per measurement."""
    forget, retain, forget_top1, retain_top1 = measure()
    start = forget_top1
    pruned = torch.zeros_like(forget, dtype=torch.bool)
    history = [{"step": 0, "neurons_pruned": 0, "forget_top1": forget_top1, "retain_top1": retain_top1}]
    for step in range(1, max_steps + 1):
        if pruned.all():
            break
        chosen = neurons_to_prune(pruning_scores(forget, retain), ratio, pruned)
        prune(chosen)
        pruned |= chosen
        forget, retain, forget_top1, retain_top1 = measure()
        history.append({"step": step, "neurons_pruned": int(pruned.sum()), "forget_top1": forget_top1,
                        "retain_top1": retain_top1})
        if reached_target(start, forget_top1, target_drop):
            break
    return pruned, history


def build(settings: ForgetSettings, args: PruningSettings, out: Path, name: str) -> dict:
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    model, tokenizer, fmt, max_length = prepare_model(settings.model_copy(update={"lora": False}))  # whole neurons
    encoded = {role: tokenize_split(benchmark.split(split), tokenizer, fmt, max_length, name=split)
               for role, split in (("forget", settings.forget), ("retain", settings.retain))}
    projections = down_projections(model)

    def measure_both():
        forget, forget_top1 = measure(model, encoded["forget"], tokenizer.pad_token_id, settings.batch_size)
        retain, retain_top1 = measure(model, encoded["retain"], tokenizer.pad_token_id, settings.batch_size)
        return forget, retain, forget_top1, retain_top1

    @torch.no_grad()
    def zero(mask):
        for projection, layer_mask in zip(projections, mask):
            projection.weight[:, layer_mask.to(projection.weight.device)] = 0

    pruned, history = prune_iteratively(measure_both, zero, args.ratio, args.target_drop, args.max_steps)
    save_model(model, tokenizer, out)
    start, end = history[0]["forget_top1"], history[-1]["forget_top1"]
    return {"prune_ratio": args.ratio, "steps": len(history) - 1,
            "reached_target": reached_target(start, end, args.target_drop),
            "neurons_pruned": int(pruned.sum()), "neurons_pruned_per_layer": pruned.sum(-1).tolist(),
            "history": [{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()} for row in history]}
