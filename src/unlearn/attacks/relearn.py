"""Relearning attacks: a few fine-tuning steps on the unlearned model, through ``unlearn finetune``.

Which records train and which are measured: ``relearn`` trains on a seeded share of the forget
set and measures the rest (Hu et al. 2024); ``relearn-kfold`` cuts it into K folds, trains on K-1
and measures the held-out one, with full fine-tuning by default and the best of a learning-rate
sweep (Deeb & Roger 2024, whose code sweeps a log range of rates and keeps the best; here the rate
is chosen on fold 1, which is then not reported); ``relearn-unrelated`` trains on general text and measures the whole forget set (Lucki et
al. 2024). A question is never measured by a model that trained on it.
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path

from unlearn.data.benchmark import read_split_file, write_benchmark
from unlearn.data.kinds import record_kind
from unlearn.errors import UserError
from unlearn.training.finetune import FinetuneSettings, finetune

TRAIN_SPLIT = "relearn_train"
KIND_NAMES = {"text": "raw-text", "choice": "multiple-choice", "continuation": "continuation (prompt/gt)",
              "probe": "probe (query/answer)"}


def held_out_split(count: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(trained, measured)`` record indices: a seeded shuffle, the first ``round(fraction * count)``
    (at least one, at most ``count - 1``) train."""
    if count < 2:
        raise ValueError("relearning needs at least 2 forget records (one to train on, one to measure)")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    cut = min(count - 1, max(1, round(fraction * count)))
    return sorted(order[:cut]), sorted(order[cut:])


def folds(count: int, k: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """K ``(trained, measured)`` pairs: a seeded shuffle cut into K near-equal folds, each measured once."""
    if not 2 <= k <= count:
        raise ValueError(f"relearn-kfold needs 2 <= K <= the number of forget records ({count}), got K = {k}")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    parts = [sorted(order[i::k]) for i in range(k)]
    return [(sorted(i for j, p in enumerate(parts) if j != fold for i in p), parts[fold]) for fold in range(k)]


def unrelated_records(source: str) -> list[dict]:
    """The packaged general-knowledge pairs (written for this project), or a user's JSON-lines file
    of question-answer records."""
    if source == "packaged":
        with resources.as_file(resources.files("unlearn.data.resources") / "unrelated_general.jsonl") as path:
            return read_split_file(path)
    path = Path(source)
    if not path.is_file():
        raise UserError(f"relearn_unrelated: no file {source} (give a JSON-lines file of question/answer records "
                        "or 'packaged')")
    records = read_split_file(path)
    kind = record_kind(records[0]) if records else "qa"
    if kind != "qa":
        raise UserError(f"relearn_unrelated: {source} holds {KIND_NAMES.get(kind, kind)} records; relearning trains on "
                        "question-answer records ('question' and 'answer')")
    return records


def relearn(settings, source: str, records: list[dict], folder: Path, epochs: float, learning_rate: float,
            lora: bool) -> tuple[Path, dict]:
    """Fine-tune ``source`` (the unlearned or the control model) on ``records`` into ``folder/model``
    with the relearning settings; returns the model folder and the training summary."""
    data = folder / "data"
    write_benchmark({TRAIN_SPLIT: [{"question": r["question"], "answer": r["answer"]} for r in records]}, data)
    values = {
        "model": source, "data": str(data), "split": TRAIN_SPLIT, "out": str(folder / "model"),
        "lora": lora, "lora_r": settings.relearn_lora_r, "lora_alpha": settings.relearn_lora_alpha,
        "merge_lora": lora, "learning_rate": learning_rate, "epochs": epochs,
        "batch_size": settings.relearn_batch_size, "gradient_accumulation_steps": 1, "warmup_epochs": 0.0,
        "seed": settings.seed, "check_facts": 0, "save_checkpoints": False, "overwrite": True,
        **{k: getattr(settings, k) for k in ("device", "dtype", "trust_remote_code", "allow_pickle", "threads",
                                             "prompt_template", "plain_template", "max_length")}}
    summary = finetune(FinetuneSettings(**values))
    keep = ("examples", "optimizer_steps", "train_loss", "train_seconds")
    return folder / "model", {k: summary.get(k) for k in keep}
