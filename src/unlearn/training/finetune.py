"""Fine-tune a model on a benchmark split (the target model, or the retain-only model).

Plain supervised learning with ``transformers.Trainer``: loss is the mean token negative
log-likelihood of the answers (prompt tokens masked), computed from the answer positions only
(``answer_trainer``). Afterwards a sample of the training
split is answered greedily to report fact accuracy, the honest sign of memorization.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import logging
import math
import time
from pathlib import Path

from unlearn.data.benchmark import Benchmark
from unlearn.data.collate import PadCollator
from unlearn.data.formatting import check_trainable, is_text_split, tokenize_split
from unlearn.errors import UserError
from unlearn.evaluation.generation import generate_answers
from unlearn.files import atomic_write_json
from unlearn.metrics.fact import contains_fact, fact_accuracy
from unlearn.models.unlearned import with_trainable
from unlearn.training.arguments import training_arguments
from unlearn.training.common import mean_logged_loss, prepare_model, remove_unless_kept, save_trained, train
from unlearn.training.finetune_settings import FinetuneSettings
from unlearn.training.run_folder import check_run_folder, record_run_settings

if TYPE_CHECKING:
    from unlearn.training.forget_settings import ForgetSettings


log = logging.getLogger(__name__)


def finetune(settings: FinetuneSettings, callbacks: list | None = None) -> dict:
    """Train, save the model into ``settings.out`` and return the summary written beside it.

    ``callbacks`` are ``transformers.TrainerCallback`` objects (benchmarks use them to follow
    fact accuracy epoch by epoch).
    """
    started = time.time()
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    records = benchmark.split(settings.split)  # bad data fails before the model loads
    check_trainable(records, settings.split)
    recorded = settings.model_dump(exclude={"overwrite", "resume"})
    out = check_run_folder(settings.out, recorded, settings.overwrite)
    record_run_settings(out, recorded)
    model, tokenizer, fmt, max_length = prepare_model(settings)
    train_set = tokenize_split(records, tokenizer, fmt, max_length, name=settings.split)

    trainer = supervised_trainer(settings, model, tokenizer, train_set, out / "checkpoints")
    if settings.lora and settings.merge_lora and (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        raise UserError("--merge-lora cannot merge a sharded adapter (FSDP, DeepSpeed): save the adapter, then "
                        "merge it in one process")
    result = train(trainer, out / "checkpoints", settings.resume, callbacks)
    # a merged adapter gives a plain model, which any method can unlearn from
    merge = (lambda model: with_trainable(model, lambda part: part.merge_and_unload())) \
        if settings.lora and settings.merge_lora else None
    if not save_trained(trainer, out, merge):
        return {}

    summary = {
        "split": settings.split,
        "examples": len(train_set),
        "optimizer_steps": result.global_step,
        "train_loss": mean_logged_loss(trainer.state.log_history),  # the whole run's, also when resumed
        "train_seconds": round(result.metrics.get("train_runtime", math.nan), 1),
    }
    if settings.check_facts and not is_text_split(records):  # raw text has no questions to answer
        summary.update(_fact_check(trainer.model, tokenizer, fmt, records, settings))
    summary["total_seconds"] = round(time.time() - started, 1)
    atomic_write_json(out / "train_summary.json", summary)
    remove_unless_kept(out / "checkpoints", settings.keep_checkpoints)
    return summary


def supervised_trainer(settings: ForgetSettings | FinetuneSettings, model, tokenizer, train_set, checkpoint_dir: Path):
    from unlearn.training.answer_trainer import AnswerLossTrainer

    args = training_arguments(settings, model, len(train_set), checkpoint_dir)
    return AnswerLossTrainer(model=model, args=args, train_dataset=train_set,
                             data_collator=PadCollator(tokenizer.pad_token_id), processing_class=tokenizer,
                             chunk_tokens=settings.loss_chunk_tokens)


def _fact_check(model, tokenizer, fmt, records, settings: FinetuneSettings) -> dict:
    """Greedy answers to ``check_facts`` records spread evenly over the split; fact accuracy if they carry facts."""
    count = min(settings.check_facts, len(records))
    sample = records.select(sorted({i * len(records) // count for i in range(count)}))
    answers = generate_answers(model, tokenizer, fmt, sample["question"], settings.max_new_tokens)
    facts = sample["fact"] if "fact" in sample.column_names else [None] * len(sample)
    accuracy = fact_accuracy(answers, facts)
    examples = [{"question": q, "answer": a, "generation": g, "fact": f,
                 "fact_found": contains_fact(g, f) if f else None}
                for q, a, g, f in zip(sample["question"], sample["answer"], answers, facts)]
    return {
        "fact_check_examples": len(sample),
        "fact_accuracy": None if math.isnan(accuracy) else round(accuracy, 4),
        "fact_accuracy_note": "not computed: records carry no 'fact'" if math.isnan(accuracy) else "",
        "fact_check": examples,
    }
