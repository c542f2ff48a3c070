"""``unlearn attack``: run robustness attacks on an unlearned model and measure what comes back.

Output folder: one evaluation folder per attack (``forget.json``, utility splits for the attacks
that change weights, ``summary.json``), ``unlearned/`` and ``original/`` (the plain evaluations,
unless given), ``original-<attack>/`` (the original model under each prompt attack, the ceiling
of its recovery), ``multiple-choice/`` and ``logit-lens/`` (per-question values of both models),
and ``attack_summary.json`` last: its presence means every attack finished.

Order of work: the original model is loaded once, the unlearned model once for the plain and
prompt evaluations (one fused pass) and the quantizations (restored after each); relearning
trains a copy per attack through ``unlearn finetune``.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import torch

from unlearn.attacks import catalog, relearn as relearning, rewrites
from unlearn.attacks.prompts import LETTERS, multiple_choice_prompt
from unlearn.attacks.quantize import quantize_weights
from unlearn.attacks.settings import AttackSettings
from unlearn.attacks.summary import eval_attack_metrics, metric_entry, robust_scores
from unlearn.data.benchmark import Benchmark
from unlearn.errors import UserError
from unlearn.evaluation.choice import letter_logprobs
from unlearn.evaluation.evaluator import aggregate, evaluate_many
from unlearn.evaluation.logit_lens import logit_lens
from unlearn.evaluation.run import (SUMMARY_FILE, eval_options, load_semantic_models, load_splits, prompt_format,
                                    read_retain_model_eval, write_evaluation)
from unlearn.evaluation.splits import EvalSplit
from unlearn.files import atomic_write_json
from unlearn.metrics.choice import chance_level, chosen_letter
from unlearn.models.loading import load_model, resolve_device
from unlearn.report.collect import ATTACK_SUMMARY, read_json
from unlearn.training.run_folder import check_run_folder, record_run_settings

log = logging.getLogger(__name__)


def run_attacks(settings: AttackSettings) -> dict:
    """Run every chosen attack, write the folder, return the attack summary."""
    names = settings.measured_attacks
    if not settings.forget:
        raise UserError("unlearn attack measures a forget split of question-answer records: give --forget")
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    plain = load_splits(benchmark, settings)
    forget = plain[0].records
    prompt_splits = _prompt_splits(names, forget, settings)  # bad data fails before any model loads
    unrelated = relearning.unrelated_records(settings.relearn_unrelated) if "relearn-unrelated" in names else []
    _check_sizes(names, forget, settings)
    reused = {role: _reused_eval(folder, forget, role) for role, folder in
              (("unlearned", settings.unlearned_eval), ("original", settings.original_eval)) if folder}
    retain_model = (read_retain_model_eval(settings.retain_eval, [r["question"] for r in forget])
                    if settings.retain_eval else None)
    recorded = settings.model_dump(exclude={"overwrite", "threads"})
    out = check_run_folder(settings.out, recorded, settings.overwrite)
    record_run_settings(out, recorded)
    (out / ATTACK_SUMMARY).unlink(missing_ok=True)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    semantic = load_semantic_models(settings.embedder, settings.nli_model, str(resolve_device(settings.device)))
    work = _Work(settings, out, semantic, retain_model)

    evaluations = {role: reused.get(role, out / role) for role in ("unlearned", "original")}
    details: dict[str, dict] = {}
    probes = [n for n in names if catalog.kind(n) == "probe"]
    for role, source in (("original", settings.original), ("unlearned", settings.model)):
        folders = {} if role in reused else {role: plain}
        prefix = "original-" if role == "original" else ""
        folders.update({f"{prefix}{name}": [split] for name, split in prompt_splits.items()})
        weights = role == "unlearned" and any(n.startswith("quantize-") for n in names)
        if not (folders or probes or weights):
            continue  # a reused evaluation and nothing else to do with this model
        model, tokenizer = load_model(source, settings.dtype, settings.device, settings.trust_remote_code,
                                      settings.allow_pickle)
        if folders:
            work.evaluate(model, tokenizer, source, folders, plain_folder=role if role not in reused else None)
        if "multiple-choice" in names:
            _write_choices(work, model, tokenizer, forget, role)
        if "logit-lens" in names:
            _write_lens(work, model, tokenizer, forget, role)
        if role == "unlearned":
            for name in (n for n in names if n.startswith("quantize-")):
                details[name] = _quantized(work, model, tokenizer, name, plain)
        del model

    for name in (n for n in names if n.startswith("relearn")):
        details[name] = _relearned(work, name, forget, plain, unrelated)

    summary = _attack_summary(settings, out, names, evaluations, details, len(forget))
    if "unlearned" not in reused:  # the worst case beside the forget metrics, in our own evaluation
        unlearned_summary = read_json(out / "unlearned" / SUMMARY_FILE)
        atomic_write_json(out / "unlearned" / SUMMARY_FILE, {**unlearned_summary, "robust": summary["robust"]})
    atomic_write_json(out / ATTACK_SUMMARY, summary)
    return summary


class _Work:
    """What every evaluation of the run shares: settings, output folder, semantic models."""

    def __init__(self, settings: AttackSettings, out: Path, semantic, retain_model):
        self.settings, self.out, self.semantic, self.retain_model = settings, out, semantic, retain_model

    def evaluate(self, model, tokenizer, source: str, folders: dict[str, list[EvalSplit]],
                 plain_folder: str | None = None) -> None:
        """Evaluate every folder's splits in one fused pass and write each folder; forget quality and
        PrivLeak only for ``plain_folder`` and weight attacks (same questions as the retain eval)."""
        started = time.time()
        splits = [split for group in folders.values() for split in group]
        results = iter(evaluate_many(model, tokenizer, prompt_format(self.settings, tokenizer), splits,
                                     self.semantic, eval_options(self.settings, model)))
        named = self.settings.model_copy(update={"model": source})
        for folder, group in folders.items():
            (self.out / folder).mkdir(parents=True, exist_ok=True)
            by_role = {split.role: next(results) for split in group}
            retain = self.retain_model if folder == plain_folder else None
            write_evaluation(self.out / folder, named, by_role, retain,
                             {"evaluate_seconds": round(time.time() - started, 1)})


def _prompt_splits(names: list[str], forget: list[dict], settings: AttackSettings) -> dict[str, EvalSplit]:
    """The rewritten forget split of each prompt attack."""
    splits = {}
    try:
        for name in names:
            if name == "paraphrase":
                records = rewrites.paraphrased(forget)
            elif name == "few-shot":
                records = rewrites.with_shots(forget, settings.few_shot)
            elif name.startswith("jailbreak-"):
                records = rewrites.wrapped(forget, name.removeprefix("jailbreak-"))
            else:
                continue
            splits[name] = EvalSplit("forget", f"{settings.forget}:{name}", records)
    except ValueError as error:
        raise UserError(f"{settings.data}/{settings.forget}: {error}") from None
    return splits


def _check_sizes(names: list[str], forget: list[dict], settings: AttackSettings) -> None:
    try:
        if "relearn" in names:
            relearning.held_out_split(len(forget), settings.relearn_fraction, settings.seed)
        if "relearn-kfold" in names:
            relearning.folds(len(forget), settings.relearn_folds, settings.seed)
    except ValueError as error:
        raise UserError(f"{settings.data}/{settings.forget}: {error}") from None
    if "multiple-choice" in names and not all(r.get("perturbed_answer") for r in forget):
        raise UserError(f"{settings.data}/{settings.forget}: multiple-choice needs wrong answers "
                        "('perturbed_answer') in every forget record")


def _reused_eval(folder: str, forget: list[dict], role: str) -> Path:
    """A finished evaluation of the same forget questions, in the same order."""
    path = Path(folder)
    if not (path / SUMMARY_FILE).is_file() or not (path / "forget.json").is_file():
        raise UserError(f"{role}_eval {folder} holds no finished evaluation (summary.json and forget.json)")
    questions = [e["question"] for e in read_json(path / "forget.json")["examples"]]
    if questions != [r["question"] for r in forget]:
        raise UserError(f"{role}_eval {folder} was made on other forget questions; evaluate with the same --data "
                        "and --forget")
    return path


def _quantized(work: _Work, model, tokenizer, name: str, plain: list[EvalSplit]) -> dict:
    """Evaluate the weights' round trip through bitsandbytes, then put the weights back."""
    started = time.time()
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    change = quantize_weights(model, name.removeprefix("quantize-"))
    log.info("attack %s: %d linear layers rounded, mean relative weight change %.4f", name, change["layers"],
             change["mean_relative_change"])
    work.evaluate(model, tokenizer, work.settings.model, {name: _weight_attack_splits(plain)}, plain_folder=name)
    model.load_state_dict(saved)
    return {**change, "rows": None, "seconds": round(time.time() - started, 1)}


def _weight_attack_splits(plain: list[EvalSplit]) -> list[EvalSplit]:
    """Forget and utility splits (membership inference is not what a weight attack tests)."""
    return [split for split in plain if split.role != "holdout"]


def _relearned(work: _Work, name: str, forget: list[dict], plain: list[EvalSplit], unrelated: list[dict]) -> dict:
    """Train per the attack's protocol, evaluate the measured questions (and utility), remove the model."""
    settings, started = work.settings, time.time()
    if name == "relearn":
        plans = [relearning.held_out_split(len(forget), settings.relearn_fraction, settings.seed)]
    elif name == "relearn-kfold":
        plans = relearning.folds(len(forget), settings.relearn_folds, settings.seed)
    else:
        plans = [(None, list(range(len(forget))))]
    epochs = settings.relearn_fold_epochs if name == "relearn-kfold" else settings.relearn_epochs
    measured_examples, training, rows = [], [], []
    for index, (trained, measured) in enumerate(plans):
        folder = work.out / name / (f"fold-{index + 1}" if len(plans) > 1 else "training")
        records = unrelated if trained is None else [forget[i] for i in trained]
        log.info("attack %s: training on %d records, measuring %d forget questions", name, len(records), len(measured))
        model_folder, trained_summary = relearning.relearn(settings, records, folder, epochs)
        training.append(trained_summary)
        model, tokenizer = load_model(str(model_folder), settings.dtype, settings.device, settings.trust_remote_code,
                                      settings.allow_pickle)
        subset = EvalSplit("forget", f"{settings.forget}:measured", [plain[0].records[i] for i in measured])
        splits = [subset] if len(plans) > 1 else [subset, *_weight_attack_splits(plain)[1:]]
        target = f"{name}/fold-{index + 1}-eval" if len(plans) > 1 else name
        work.evaluate(model, tokenizer, str(model_folder), {target: splits})
        del model
        if not settings.keep_models:
            shutil.rmtree(model_folder, ignore_errors=True)
        measured_examples += read_json(work.out / target / "forget.json")["examples"]
        rows += measured
    if len(plans) > 1:
        _write_combined_folds(work, name, measured_examples)
    return {"rows": rows, "training": training, "trained_on": "unrelated" if name == "relearn-unrelated" else
            "forget", "seconds": round(time.time() - started, 1)}


def _write_combined_folds(work: _Work, name: str, examples: list[dict]) -> None:
    """Every fold's held-out questions in one forget split, the attack's evaluation."""
    split = EvalSplit("forget", f"{work.settings.forget}:kfold", [])
    result = aggregate(split, examples, {}, {"confidence": work.settings.confidence,
                                             "resamples": work.settings.bootstrap_resamples})
    write_evaluation(work.out / name, work.settings, {"forget": result})


def _write_choices(work: _Work, model, tokenizer, forget: list[dict], role: str) -> None:
    """Each forget question as A-D options, the letter the model finds likeliest, per question."""
    prompts = [multiple_choice_prompt(r["question"], r["answer"], r["perturbed_answer"], work.settings.seed + i)
               for i, r in enumerate(forget)]
    scores = letter_logprobs(model, tokenizer, prompt_format(work.settings, tokenizer), [p for p, _ in prompts],
                             LETTERS, work.settings.batch_size, eval_options(work.settings, model).max_length)
    rows = []
    for (prompt, correct), record, letters in zip(prompts, forget, scores):
        options = min(len(LETTERS), 1 + len(record["perturbed_answer"]))
        shown = {letter: letters[letter] for letter in LETTERS[:options]}
        rows.append({"question": record["question"], "prompt": prompt, "correct": correct,
                     "letter_logprobs": shown, "chosen": chosen_letter(shown), "chance": chance_level(options)})
    folder = work.out / "multiple-choice"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / f"{role}.json", {"model": work.settings.model if role == "unlearned" else
                                                work.settings.original, "examples": rows})


def _write_lens(work: _Work, model, tokenizer, forget: list[dict], role: str) -> None:
    lens = logit_lens(model, tokenizer, prompt_format(work.settings, tokenizer), forget,
                      eval_options(work.settings, model).max_length, work.settings.batch_size)
    folder = work.out / "logit-lens"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / f"{role}.json", lens)


def _attack_summary(settings: AttackSettings, out: Path, names: list[str], evaluations: dict[str, Path],
                    details: dict[str, dict], forget_count: int) -> dict:
    interval_options = {"confidence": settings.confidence, "resamples": settings.bootstrap_resamples}
    attacks = []
    for name in names:
        entry = {"name": name, "kind": catalog.kind(name), "description": catalog.description(name),
                 "eval": None, "original_eval": None, "questions": forget_count, "details": {}}
        if name == "multiple-choice":
            entry["metrics"] = _choice_metrics(out, settings, interval_options)
        elif name == "logit-lens":
            entry["metrics"], entry["details"] = _lens_metrics(out, settings, interval_options)
        else:
            prompt = catalog.kind(name) == "prompt"
            info = details.get(name, {})
            rows = info.get("rows") or list(range(forget_count))
            original = out / f"original-{name}" if prompt else evaluations["original"]
            entry.update(eval=name, original_eval=_relative(original, out), questions=len(rows),
                         details={k: v for k, v in info.items() if k != "rows"})
            entry["metrics"] = eval_attack_metrics(out / name, evaluations["unlearned"], original, rows, prompt,
                                                   settings.recovery_metrics, settings.min_gap, interval_options)
        attacks.append(entry)
    unlearned_summary = read_json(evaluations["unlearned"] / SUMMARY_FILE)
    return {
        "model": settings.model, "original": settings.original, "data": settings.data, "forget": settings.forget,
        "evaluations": {role: _relative(path, out) for role, path in evaluations.items()},
        "recovery_metrics": settings.recovery_metrics, "min_gap": settings.min_gap,
        "intervals": {**interval_options, "method": "paired percentile bootstrap over questions"},
        "attacks": attacks,
        "robust": robust_scores(unlearned_summary, attacks, settings.recovery_metrics),
    }


def _choice_metrics(out: Path, settings: AttackSettings, interval_options: dict) -> dict:
    """Accuracy of the unlearned and original models, with chance as the floor a model that forgot
    would sit at: recovery = (acc_unlearned - chance) / (acc_original - chance)."""
    unlearned = read_json(out / "multiple-choice" / "unlearned.json")["examples"]
    original = read_json(out / "multiple-choice" / "original.json")["examples"]
    attacked = [float(e["chosen"] == e["correct"]) for e in unlearned]
    ceiling = [float(e["chosen"] == e["correct"]) for e in original]
    floor = [e["chance"] for e in unlearned]
    entry = metric_entry(attacked, floor, ceiling, settings.min_gap, interval_options)
    return {"choice_accuracy": {**entry, "floor": "chance"}}


def _lens_metrics(out: Path, settings: AttackSettings, interval_options: dict) -> tuple[dict, dict]:
    """The unlearned model's best layer against its output layer, with the original's output layer as
    the ceiling, on the probability of the answer's first fact token."""
    unlearned = read_json(out / "logit-lens" / "unlearned.json")
    original = read_json(out / "logit-lens" / "original.json")
    best = unlearned["best_layer"] - 1
    column = "fact_token_probability"
    attacked = [e[column][best] for e in unlearned["examples"]]
    final = [e[column][-1] for e in unlearned["examples"]]
    ceiling = [e[column][-1] for e in original["examples"]]
    details = {"best_layer": unlearned["best_layer"], "layers": unlearned["layers"],
               "unlearned_per_layer": unlearned["per_layer"], "original_per_layer": original["per_layer"]}
    return {column: metric_entry(attacked, final, ceiling, settings.min_gap, interval_options)}, details


def _relative(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix() if path.is_relative_to(out) else str(path)
