"""What several auxiliary-model methods start from: the target fine-tuned further on the forget data.

Task vectors subtract this change, WHP contrasts the two models' logits. The reinforcement uses
the run's own optimizer settings (MUSE fine-tunes its task vector with the same learning rate and
epochs as its other baselines), through ``unlearn finetune``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathlib import Path

from unlearn.training.finetune import FinetuneSettings, finetune
from unlearn.training.settings import DataSettings, OptimSettings, TrainableModelSettings

if TYPE_CHECKING:
    from unlearn.training.forget_settings import ForgetSettings


# what a forget run and a fine-tuning run both mean the same way: model, data and optimizer settings
SHARED = tuple(name for model in (TrainableModelSettings, DataSettings, OptimSettings) for name in model.model_fields
               if name != "keep_checkpoints")


def reinforce(settings: ForgetSettings, folder: Path, split: str | None = None) -> tuple[Path, dict]:
    """Fine-tune ``settings.model`` on ``split`` (default the forget split) into ``folder``; a LoRA
    adapter is merged, so the result is a plain model. Returns the folder and its summary."""
    values = {k: getattr(settings, k) for k in SHARED}
    values.update(split=split or settings.forget, out=str(folder), merge_lora=settings.lora, check_facts=0,
                  overwrite=True)
    summary = finetune(FinetuneSettings(**values))
    return folder, {"reinforce_steps": summary.get("optimizer_steps"), "reinforce_loss": summary.get("train_loss"),
                    "reinforce_seconds": summary.get("train_seconds")}


def model_source(settings: ForgetSettings) -> str:
    """``settings.model`` as a source a manifest can name from anywhere (local paths made absolute)."""
    path = Path(settings.model).expanduser()
    return str(path.resolve()) if path.exists() else settings.model
