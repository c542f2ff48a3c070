"""Who's Harry Potter (Eldan & Russinovich 2023), in both forms.

A reinforced model ``r`` (the target fine-tuned further on the forget data) shows which tokens
are the forget data's own: those it likes more than the base model. WHP's generic logits
``v_g = v_b - alpha * ReLU(v_r - v_b)`` push exactly those down.

- ``WHP`` (the paper): fine-tune the base on the forget text with ``argmax v_g`` at each answer
  position as the label, so that one plain model gives generic answers. The paper's second
  ingredient, swapping "anchor terms" for generic ones through a dictionary written by GPT-4, needs
  that dictionary and is not done here.
- ``WHP-decoding`` (MUSE's baseline): keep both models and apply ``v_g`` at every decoding step,
  a ``logit_combination`` manifest model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import datasets
import torch

from unlearn.data.benchmark import Benchmark
from unlearn.data.collate import PadCollator
from unlearn.data.formatting import IGNORE_INDEX, tokenize_split
from unlearn.families import FAMILY_METHODS
from unlearn.families.reinforce import model_source, reinforce
from unlearn.models.combined import whp_generic_logits
from unlearn.models.loading import load_model
from unlearn.models.modes import evaluating
from unlearn.models.unlearned import write_manifest
from unlearn.training.common import mean_logged_loss, prepare_model, remove_unless_kept, save_trained, train
from unlearn.training.finetune import supervised_trainer

if TYPE_CHECKING:
    from pathlib import Path

    from unlearn.families import WHPSettings
    from unlearn.training.forget_settings import ForgetSettings


def generic_labels(base_logits: torch.Tensor, reinforced_logits: torch.Tensor, labels: torch.Tensor,
                   alpha: float) -> torch.Tensor:
    """Labels with each answer token replaced by ``argmax v_g`` at the position that predicts it.

    ``labels[t]`` is predicted by the logits at ``t - 1`` (the causal shift); positions whose label
    is ``IGNORE_INDEX`` stay ignored."""
    generic = whp_generic_logits(base_logits, reinforced_logits, alpha).argmax(-1)
    shifted = torch.full_like(labels, IGNORE_INDEX)
    shifted[:, 1:] = generic[:, :-1]
    return torch.where(labels == IGNORE_INDEX, labels, shifted)


def build(settings: ForgetSettings, args: WHPSettings, out: Path, name: str) -> dict:
    alpha = args.alpha
    keep_reinforced = name == "WHP-decoding"
    folder, summary = reinforce(settings, out / ("second" if keep_reinforced else "reinforced"))
    if keep_reinforced:
        write_manifest(out, "logit_combination", name, {"main": model_source(settings), "second": "second"},
                       FAMILY_METHODS[name].inference_cost, formula="whp", alpha=alpha)
        return {"alpha": alpha, **summary}
    summary.update(_train_on_generic_labels(settings, folder, out, alpha))
    remove_unless_kept(folder, settings.keep_checkpoints)
    return {"alpha": alpha, **summary}


def _train_on_generic_labels(settings: ForgetSettings, reinforced_folder: Path, out: Path, alpha: float) -> dict:
    records = Benchmark(settings.data, answer_field=settings.answer_field).split(settings.forget)
    model, tokenizer, fmt, max_length = prepare_model(settings)
    encoded = tokenize_split(records, tokenizer, fmt, max_length, name=settings.forget)
    reinforced, _ = load_model(str(reinforced_folder), settings.dtype, settings.device)
    relabelled = _relabel(model, reinforced, encoded, tokenizer.pad_token_id, settings.batch_size, alpha)
    del reinforced
    trainer = supervised_trainer(settings, model, tokenizer, relabelled, out / "checkpoints")
    result = train(trainer, out / "checkpoints", settings.resume)
    save_trained(trainer, out)
    remove_unless_kept(out / "checkpoints", settings.keep_checkpoints)
    changed = sum(a != b for row_a, row_b in zip(encoded["labels"], relabelled["labels"])
                  for a, b in zip(row_a, row_b) if a != IGNORE_INDEX)
    total = sum(label != IGNORE_INDEX for row in encoded["labels"] for label in row)
    return {"optimizer_steps": result.global_step, "train_loss": mean_logged_loss(trainer.state.log_history),
            "generic_label_share_changed": round(changed / max(1, total), 4)}


@torch.no_grad()
def _relabel(base, reinforced, encoded, pad_id: int, batch_size: int, alpha: float) -> datasets.Dataset:
    """The forget examples with generic labels from the base model (before any training) and ``r``."""
    collate = PadCollator(pad_id)
    device = next(base.parameters()).device
    columns = {"input_ids": [], "attention_mask": [], "labels": []}
    rows = encoded.select_columns(["input_ids", "attention_mask", "labels"])
    with evaluating(base, reinforced):
        for start in range(0, len(rows), batch_size):
            chunk = [rows[i] for i in range(start, min(start + batch_size, len(rows)))]
            batch = {k: v.to(device) for k, v in collate(chunk).items()}
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            labels = generic_labels(base(**inputs).logits.float(), reinforced(**inputs).logits.float(),
                                    batch["labels"], alpha)
            for row, new in zip(chunk, labels):
                length = len(row["input_ids"])
                columns["input_ids"].append(row["input_ids"])
                columns["attention_mask"].append(row["attention_mask"])
                columns["labels"].append(new[:length].tolist())
    return datasets.Dataset.from_dict(columns)
