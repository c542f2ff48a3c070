"""Steps every training command shares: model preparation and a resumable ``train()``."""

from __future__ import annotations

from pathlib import Path

import torch

from unlearn.data.formatting import PromptFormat
from unlearn.models.loading import load_model
from unlearn.models.lora import apply_lora


def prepare_model(settings):
    """Threads and seed, then ``(model, tokenizer, prompt format)`` with LoRA applied if asked."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    model, tokenizer = load_model(settings.model, settings.dtype, settings.device, settings.trust_remote_code)
    if settings.lora:
        model = apply_lora(model, settings.lora_r, settings.lora_alpha, settings.lora_dropout)
    fmt = PromptFormat.for_tokenizer(tokenizer, settings.prompt_template, settings.plain_template)
    return model, tokenizer, fmt


def train(trainer, checkpoint_dir: Path, resume: bool, callbacks: list | None = None):
    """``trainer.train()``, from the last checkpoint in ``checkpoint_dir`` when ``resume`` and one exists."""
    for callback in callbacks or []:
        trainer.add_callback(callback)
    checkpoint = resume and any(Path(checkpoint_dir).glob("checkpoint-*"))
    return trainer.train(resume_from_checkpoint=True if checkpoint else None)
