"""What RMU fixes before training: the weights it trains and its random steering direction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from unlearn.errors import UserError

if TYPE_CHECKING:
    from unlearn.training.forget_settings import ForgetSettings


def prepare_rmu(model, settings: ForgetSettings) -> tuple[int, torch.Tensor]:
    """Train only what RMU trains (WMDP: ``mlp.down_proj`` of layers l-2..l, the 7th parameter of a
    Zephyr/Mistral layer, ``param_ids=[6]``) and draw the random unit direction u (uniform in [0, 1)^d,
    normalized, as WMDP draws it)."""
    args = settings.args_of("RMU")
    layers = model.config.num_hidden_layers
    if args.layer >= layers:
        raise UserError(f"RMU layer {args.layer} does not exist: the model has layers 0..{layers - 1}")
    part = "mlp.down_proj." if args.params == "down_proj" else "mlp."
    first = max(0, args.layer - 2)
    trained = tuple(f"layers.{i}.{part}" for i in range(first, args.layer + 1))
    chosen = 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(any(prefix in name for prefix in trained))
        chosen += parameter.requires_grad
    if not chosen:
        raise UserError(f"RMU trains {part[:-1]} of layers {first}..{args.layer}, and this model has no "
                        f"parameter named 'layers.N.{part}...'; RMU supports Llama-style layer names")
    generator = torch.Generator().manual_seed(settings.seed)
    direction = torch.rand(model.config.hidden_size, generator=generator)
    return args.layer, direction / direction.norm()
