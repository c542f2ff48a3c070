"""Weight-saliency masks (locate-then-unlearn): any loss-based method updates chosen weights only.

Before training, the gradients of the forget NLL and the retain NLL are summed over the examples
(one pass): ``g = sum_i grad nll_i`` with ``nll_i`` example i's mean answer NLL, as WAGLE's
``GenerateMask`` sums them at its batch size of 1, so the sum does not depend on our batch size.
Each weight gets WAGLE's attribution score (Jia et al. 2024, their code's ``snip_advanced``)
``|(theta - g_retain / mu) * g_forget|``: how much moving the weight along the forget gradient
changes the retain loss, with ``mu`` weighing the retain term. The ``mask_ratio`` share of weights
with the highest scores over the whole model is trained; the gradient of every other weight is
zeroed and its value restored after each optimizer step, so weight decay does not move it either.
Defaults from their configs: ``mu`` 1e-6 and ratio 0.95 (``configs/unlearn/Tofu/*+WAGLE.json``,
mask ``tofu_0.95.pt``; WMDP uses 0.6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from transformers import TrainerCallback

from unlearn.models.modes import evaluating
from unlearn.objectives.sequence import answer_lengths, sequence_logprob

if TYPE_CHECKING:
    from unlearn.training.forget_settings import ForgetSettings


def summed_example_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``sum_i nll_i`` with ``nll_i = -log p(y_i|x_i) / |y_i|``: each example's mean answer NLL, summed."""
    return (-sequence_logprob(logits.float(), labels) / answer_lengths(labels).clamp(min=1)).sum()


def saliency_scores(weight: torch.Tensor, forget_gradient: torch.Tensor, retain_gradient: torch.Tensor,
                    mu: float = 1e-6) -> torch.Tensor:
    """WAGLE: ``s = |(theta - g_r / mu) * g_f|`` per weight."""
    return ((weight - retain_gradient / mu) * forget_gradient).abs()


def top_share_masks(scores: dict[str, torch.Tensor], ratio: float) -> dict[str, torch.Tensor]:
    """Boolean masks of the ``ratio`` share of highest scores over all tensors together (ties at
    the threshold are kept)."""
    flat = torch.cat([s.flatten().float() for s in scores.values()])
    count = max(1, round(ratio * flat.numel()))
    threshold = flat.topk(count).values.min()
    return {name: s >= threshold for name, s in scores.items()}


def accumulate_gradients(model, dataset, collator, batch_size: int, stream: str) -> dict[str, torch.Tensor]:
    """``sum_i grad nll_i`` over the examples of ``stream``, per parameter."""
    parameters = {n: p for n, p in model.named_parameters() if p.requires_grad}
    totals = {n: torch.zeros_like(p) for n, p in parameters.items()}
    device = next(model.parameters()).device
    for start in range(0, len(dataset), batch_size):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])[stream]
        batch = {k: v.to(device) for k, v in batch.items()}
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        summed_example_nll(logits, batch["labels"]).backward()
        for name, parameter in parameters.items():
            if parameter.grad is not None:
                totals[name] += parameter.grad
    model.zero_grad(set_to_none=True)
    return totals


def saliency_masks(model, dataset, collator, batch_size: int, ratio: float, mu: float) -> dict[str, torch.Tensor]:
    with evaluating(model):  # no dropout in the attribution
        forget = accumulate_gradients(model, dataset, collator, batch_size, "forget")
        retain = accumulate_gradients(model, dataset, collator, batch_size, "retain")
    weights = dict(model.named_parameters())
    return top_share_masks({n: saliency_scores(weights[n].detach(), forget[n], retain[n], mu) for n in forget},
                           ratio)


class MaskedUpdates(TrainerCallback):
    """Keeps every weight outside its mask at its starting value (gradient hooks + a restore)."""

    def __init__(self, model, masks: dict[str, torch.Tensor]):
        self.parameters = {n: p for n, p in model.named_parameters() if n in masks}
        self.masks = masks
        self.frozen = {n: p.detach().clone() for n, p in self.parameters.items()}
        for name, parameter in self.parameters.items():
            parameter.register_hook(lambda grad, mask=masks[name]: grad * mask.to(grad.dtype))

    @torch.no_grad()
    def on_optimizer_step(self, args, state, control, **kwargs):
        for name, parameter in self.parameters.items():
            parameter.copy_(torch.where(self.masks[name], parameter, self.frozen[name]))


def saliency_callback(model, dataset, collator, settings: ForgetSettings) -> MaskedUpdates | None:
    """``--mask saliency``: the callback that keeps the weights outside the mask fixed (or None)."""
    if settings.mask == "none":
        return None
    args = settings.args_of("saliency")
    masks = saliency_masks(model, dataset, collator, settings.batch_size, args.ratio, args.mu)
    return MaskedUpdates(model, masks)
