"""Relearning attacks: a few fine-tuning steps on the unlearned model, through ``unlearn finetune``.

Which records train and which are measured: ``relearn`` trains on a seeded share of the forget
set and measures the rest (Hu et al. 2024); ``relearn-kfold`` cuts it into K folds, trains on K-1
and measures the held-out one, with full fine-tuning by default and the best of a learning-rate
sweep (Deeb & Roger 2024, whose code sweeps a log range of rates and keeps the best; here the rate
is chosen on fold 1, which is then not reported); ``relearn-unrelated`` trains on general text and
measures the whole forget set (Lucki et al. 2024). A question is never measured by a model that
trained on it. Each attack's function (``held_out``, ``unrelated``, ``kfold``) is what its
registration in ``catalog.py`` calls; the run's models are trained on and evaluated through ``AttackRun``.
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from unlearn.attacks.summary import forget_columns
from unlearn.data.benchmark import read_split_file, write_benchmark
from unlearn.data.kinds import record_kind
from unlearn.errors import UserError
from unlearn.evaluation.evaluator import aggregate, finite_mean
from unlearn.evaluation.run import write_evaluation
from unlearn.evaluation.splits import EvalSplit
from unlearn.models.loading import load_model
from unlearn.report.collect import read_json
from unlearn.training.finetune import FinetuneSettings, finetune

if TYPE_CHECKING:
    from unlearn.attacks.run import AttackRun

log = logging.getLogger(__name__)

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
        raise UserError(f"relearn-unrelated source: no file {source} (give a JSON-lines file of question/answer "
                        "records or 'packaged')")
    records = read_split_file(path)
    kind = record_kind(records[0]) if records else "qa"
    if kind != "qa":
        raise UserError(f"relearn-unrelated source: {source} holds {KIND_NAMES.get(kind, kind)} records; relearning "
                        "trains on question-answer records ('question' and 'answer')")
    return records


def relearn(settings, args, source: str, records: list[dict], folder: Path, epochs: float, learning_rate: float,
            lora: bool) -> tuple[Path, dict]:
    """Fine-tune ``source`` (the unlearned or the control model) on ``records`` into ``folder/model``
    with the attack's settings ``args`` and the run's model settings; returns the model folder and
    the training summary."""
    data = folder / "data"
    write_benchmark({TRAIN_SPLIT: [{"question": r["question"], "answer": r["answer"]} for r in records]}, data)
    values = {
        "model": source, "data": str(data), "split": TRAIN_SPLIT, "out": str(folder / "model"),
        "lora": lora, "lora_r": args.lora_r, "lora_alpha": args.lora_alpha,
        "merge_lora": lora, "learning_rate": learning_rate, "epochs": epochs,
        "batch_size": args.batch_size, "gradient_accumulation_steps": 1, "warmup_epochs": 0.0,
        "seed": settings.seed, "check_facts": 0, "save_checkpoints": False, "overwrite": True,
        **{k: getattr(settings, k) for k in ("device", "dtype", "trust_remote_code", "allow_pickle", "threads",
                                             "prompt_template", "plain_template", "max_length")}}
    summary = finetune(FinetuneSettings(**values))
    keep = ("examples", "optimizer_steps", "train_loss", "train_seconds")
    return folder / "model", {k: summary.get(k) for k in keep}


def held_out(run: AttackRun, args, source: str, folder: str, as_attacked: dict | None = None) -> dict:
    """``relearn``: train on a seeded share of the forget set, measure the rest (and utility)."""
    started = time.time()
    trained, measured = held_out_split(len(run.forget), args.fraction, run.settings.seed)
    _, summary = _train_and_measure(run, args, source, [run.forget[i] for i in trained], measured, True,
                                    run.out / folder / "training", folder, args.learning_rate, args.epochs, args.lora)
    return _details(measured, [summary], args.learning_rate, args, "forget", started)


def unrelated(run: AttackRun, args, source: str, folder: str, as_attacked: dict | None = None) -> dict:
    """``relearn-unrelated``: train on general text, measure the whole forget set."""
    started = time.time()
    measured = list(range(len(run.forget)))
    _, summary = _train_and_measure(run, args, source, unrelated_records(args.source), measured, False,
                                    run.out / folder / "training", folder, args.learning_rate, args.epochs, args.lora)
    return _details(measured, [summary], args.learning_rate, args, "unrelated", started)


def kfold(run: AttackRun, args, source: str, folder: str, as_attacked: dict | None = None) -> dict:
    """``relearn-kfold``: train on K-1 folds and measure the held-out one, for every fold. The control
    (``as_attacked``: the unlearned model's details) repeats the unlearned model's learning rate and
    reported folds: the same attack."""
    started = time.time()
    plans, sweep = folds(len(run.forget), args.folds, run.settings.seed), {}
    if as_attacked:
        rate, plans = as_attacked["learning_rate"], plans[as_attacked["first_reported_fold"] - 1:]
    elif len(args.learning_rates) > 1:
        rate, sweep = _sweep_rates(run, args, plans[0], source, folder)
        plans = plans[1:]
    else:
        rate = args.learning_rates[0]
    first = args.folds - len(plans) + 1
    measured_examples, training, rows = [], [], []
    for index, (trained, measured) in enumerate(plans, start=first):
        examples, summary = _train_and_measure(run, args, source, [run.forget[i] for i in trained], measured, False,
                                               run.out / folder / f"fold-{index}", f"{folder}/fold-{index}-eval",
                                               rate, args.epochs, args.lora)
        training.append(summary)
        measured_examples += examples
        rows += measured
    _write_combined_folds(run, folder, measured_examples)
    details = _details(rows, training, rate, args, "forget", started)
    details.update(first_reported_fold=first, folds=args.folds)
    if sweep:
        details["learning_rate_sweep"] = sweep
    return details


def _details(rows: list[int], training: list[dict], rate: float, args, trained_on: str, started: float) -> dict:
    return {"rows": rows, "training": training, "learning_rate": rate, "lora": args.lora, "epochs": args.epochs,
            "trained_on": trained_on, "seconds": round(time.time() - started, 1)}


def _train_and_measure(run: AttackRun, args, source: str, records: list[dict], measured: list[int], utility: bool,
                       training: Path, target: str, rate: float, epochs: float, lora: bool):
    """Fine-tune ``source`` on ``records``, evaluate forget rows ``measured`` (and utility) into
    ``target``; returns the measured examples and the training summary."""
    settings = run.settings
    log.info("relearning %s: training on %d records (lr %g), measuring %d forget questions", source, len(records),
             rate, len(measured))
    model_folder, trained_summary = relearn(settings, args, source, records, training, epochs, rate, lora)
    model, tokenizer = load_model(str(model_folder), settings.dtype, settings.device, settings.trust_remote_code,
                                  settings.allow_pickle)
    subset = EvalSplit("forget", f"{settings.forget}:measured", [run.forget[i] for i in measured])
    splits = [subset, *run.weight_attack_splits()[1:]] if utility else [subset]
    run.evaluate(model, tokenizer, str(model_folder), {target: splits})
    del model
    if not settings.keep_models:
        shutil.rmtree(model_folder, ignore_errors=True)
    return read_json(run.out / target / "forget.json")["examples"], trained_summary


def _sweep_rates(run: AttackRun, args, plan, source: str, folder: str) -> tuple[float, dict]:
    """Deeb & Roger keep the best of a learning-rate sweep. Each rate trains on fold 1's training
    folds; the rate whose model scores highest on fold 1's held-out questions (the first recovery
    metric computed there) is chosen, and fold 1 is then left out of what is reported, so the
    choice never sees a reported question."""
    trained, measured = plan
    scores = {}
    for rate in args.learning_rates:
        target = f"{folder}/sweep-lr{rate:g}-eval"
        _train_and_measure(run, args, source, [run.forget[i] for i in trained], measured, False,
                           run.out / folder / f"sweep-lr{rate:g}", target, rate, args.epochs, args.lora)
        columns = forget_columns(run.out / target)
        scores[f"{rate:g}"] = {m: finite_mean(columns[m]) for m in run.settings.recovery_metrics}
    metric = next((m for m in run.settings.recovery_metrics
                   if all(not math.isnan(s[m]) for s in scores.values())), None)
    if metric is None:
        raise UserError("relearn-kfold: no recovery metric is computed on fold 1, so no learning rate can be chosen; "
                        "give one --relearn-kfold.learning-rates value")
    best = max(args.learning_rates, key=lambda r: scores[f"{r:g}"][metric])
    log.info("relearn-kfold on %s: learning rate %g chosen on fold 1 by %s", source, best, metric)
    return best, {"scores": scores, "chosen_by": metric, "chosen_on": "fold 1's held-out questions (not reported)"}


def _write_combined_folds(run: AttackRun, folder: str, examples: list[dict]) -> None:
    """Every reported fold's held-out questions in one forget split, the attack's evaluation."""
    evaluation = run.evaluation
    split = EvalSplit("forget", f"{evaluation.forget}:kfold", [])
    result = aggregate(split, examples, {}, {"confidence": evaluation.confidence,
                                             "resamples": evaluation.bootstrap_resamples})
    write_evaluation(run.out / folder, evaluation, {"forget": result})
