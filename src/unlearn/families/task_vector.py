"""Task vector negation (Ilharco et al. 2023; a MUSE baseline).

The forget data's "task vector" is the change fine-tuning on it makes to the weights; subtracting
a multiple of it moves the model away from that data. The result is one plain model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from unlearn.families.reinforce import reinforce
from unlearn.models.loading import load_model, save_model
from unlearn.models.lora import full_weights
from unlearn.training.common import remove_unless_kept

if TYPE_CHECKING:
    from pathlib import Path

    from unlearn.families import TaskVectorSettings
    from unlearn.training.forget_settings import ForgetSettings


def negate_task_vector(target: dict, finetuned: dict, alpha: float) -> dict:
    """``theta_u = theta_t - alpha * (theta_ft - theta_t)`` for every floating-point tensor.

    ``tau = theta_ft - theta_t`` is the task vector; tensors that are not floating point (counters,
    indices) are kept from the target."""
    return {name: value - alpha * (finetuned[name].to(value.dtype) - value) if value.is_floating_point() else value
            for name, value in target.items()}


def build(settings: ForgetSettings, args: TaskVectorSettings, out: Path, name: str) -> dict:
    alpha = args.alpha
    folder, summary = reinforce(settings, out / "reinforced")
    target, tokenizer = load_model(settings.model, settings.dtype, settings.device, settings.trust_remote_code,
                                   settings.allow_pickle)
    target = full_weights(target)
    finetuned, _ = load_model(str(folder), settings.dtype, settings.device)
    with torch.no_grad():
        target.load_state_dict(negate_task_vector(target.state_dict(), finetuned.state_dict(), alpha))
    del finetuned
    save_model(target, tokenizer, out)
    remove_unless_kept(folder, settings.keep_checkpoints)
    return {"alpha": alpha, **summary}
