"""What several auxiliary-model methods start from: the target fine-tuned further on the forget data.

Task vectors subtract this change, WHP contrasts the two models' logits. The reinforcement uses
the run's own optimizer settings (MUSE fine-tunes its task vector with the same learning rate and
epochs as its other baselines), through ``unlearn finetune``.
"""

from __future__ import annotations

from pathlib import Path

from unlearn.training.finetune import FinetuneSettings, finetune

SHARED = ("model", "device", "dtype", "trust_remote_code", "allow_pickle", "threads", "data", "prompt_template",
          "plain_template", "max_length", "answer_field", "epochs", "learning_rate", "batch_size",
          "gradient_accumulation_steps", "weight_decay", "warmup_epochs", "seed", "report_to", "logging_steps",
          "save_checkpoints", "resume", "lora", "lora_r", "lora_alpha", "lora_dropout", "gradient_checkpointing",
          "loss_chunk_tokens")


def reinforce(settings, folder: Path, split: str | None = None) -> tuple[Path, dict]:
    """Fine-tune ``settings.model`` on ``split`` (default the forget split) into ``folder``; a LoRA
    adapter is merged, so the result is a plain model. Returns the folder and its summary."""
    values = {k: getattr(settings, k) for k in SHARED}
    values.update(split=split or settings.forget, out=str(folder), merge_lora=settings.lora, check_facts=0,
                  overwrite=True)
    summary = finetune(FinetuneSettings(**values))
    return folder, {"reinforce_steps": summary.get("optimizer_steps"), "reinforce_loss": summary.get("train_loss"),
                    "reinforce_seconds": summary.get("train_seconds")}


def model_source(settings) -> str:
    """``settings.model`` as a source a manifest can name from anywhere (local paths made absolute)."""
    path = Path(settings.model).expanduser()
    return str(path.resolve()) if path.exists() else settings.model
