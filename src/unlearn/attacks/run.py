"""``unlearn attack``: run robustness attacks on an unlearned model and measure what comes back.

Output folder: one evaluation folder per attack (``forget.json``, utility splits for the attacks
that change weights, ``summary.json``), ``unlearned/``, ``original/`` and ``control/`` (the plain
evaluations, unless given), ``original-<attack>/`` (the original model under each prompt attack,
the ceiling of its recovery), ``control-<attack>/`` (the control model under every attack),
``multiple-choice/`` and ``logit-lens/`` (per-question values of each model), and
``attack_summary.json`` last: its presence means every attack finished.

Order of work: every input is checked before the first model loads; the original, control and
unlearned models load once each for the plain and prompt evaluations (one fused pass), the probes
and the quantizations (restored after each); relearning trains a copy per attack and model through
``unlearn finetune``.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from unlearn.attacks import catalog, relearn as relearning, rewrites
from unlearn.attacks.checks import check_forget, check_inputs, reused_eval
from unlearn.attacks.prompts import LETTERS, multiple_choice_prompt
from unlearn.attacks.quantize import quantize_weights
from unlearn.attacks.recovery import FACT_METRICS
from unlearn.attacks.settings import AttackSettings
from unlearn.attacks.summary import (NO_CONTROL, WITH_CONTROL, eval_attack_metrics, forget_columns,
                                     metric_entry, robust_scores)
from unlearn.data.benchmark import Benchmark
from unlearn.errors import UserError
from unlearn.evaluation.choice import letter_logprobs
from unlearn.evaluation.evaluator import aggregate, evaluate_many, finite_mean
from unlearn.evaluation.logit_lens import logit_lens
from unlearn.evaluation.run import (SUMMARY_FILE, eval_options, load_semantic_models, load_splits, prompt_format,
                                    read_retain_model_eval, write_evaluation)
from unlearn.evaluation.splits import EvalSplit
from unlearn.files import atomic_write_json
from unlearn.metrics.choice import chance_level, chosen_letter
from unlearn.metrics.lens import held_out_layer
from unlearn.metrics.uncertainty import PAIRED_METHOD_DESCRIPTION
from unlearn.models.loading import load_model, resolve_device
from unlearn.report.collect import ATTACK_SUMMARY, read_json
from unlearn.training.run_folder import check_run_folder, record_run_settings

log = logging.getLogger(__name__)
PREFIX = {"original": "original-", "control": "control-", "unlearned": ""}


def run_attacks(settings: AttackSettings) -> dict:
    """Run every chosen attack, write the folder, return the attack summary."""
    names = settings.measured_attacks
    if not settings.forget:
        raise UserError("unlearn attack measures a forget split of question-answer records: give --forget")
    if settings.control_eval and not settings.control:
        raise UserError("--control-eval is the control model's evaluation: give the control model too (--control)")
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    plain = load_splits(benchmark, settings)
    forget = plain[0].records
    check_forget(forget, settings)
    prompt_splits = _prompt_splits(names, forget, settings)
    unrelated = relearning.unrelated_records(settings.relearn_unrelated) if "relearn-unrelated" in names else []
    _check_sizes(names, forget, settings)
    reused = {role: reused_eval(folder, forget, role) for role, folder in
              (("unlearned", settings.unlearned_eval), ("original", settings.original_eval),
               ("control", settings.control_eval)) if folder}
    check_inputs(settings, names, forget)  # every model and prompt, before the first model loads
    retain_model = (read_retain_model_eval(settings.retain_eval, [r["question"] for r in forget])
                    if settings.retain_eval else None)
    if not settings.control:
        log.warning("no --control model: recovery is measured against the unattacked floor, so an attack that only "
                    "teaches the answer format counts as recovered knowledge; give the retain model as --control")
    if settings.generation_backend != "hf":  # attacks evaluate models held in memory, which vLLM cannot load
        raise UserError("--generation-backend vllm is supported by unlearn eval only; use --generation-backend hf")
    recorded = settings.model_dump(exclude={"overwrite", "threads", "generation_backend"})
    out = check_run_folder(settings.out, recorded, settings.overwrite)
    record_run_settings(out, recorded)
    (out / ATTACK_SUMMARY).unlink(missing_ok=True)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    semantic = load_semantic_models(settings.embedder, settings.nli_model, str(resolve_device(settings.device)))
    work = _Work(settings, out, semantic, retain_model)

    roles = [("original", settings.original), *([("control", settings.control)] if settings.control else []),
             ("unlearned", settings.model)]
    evaluations = {role: reused.get(role, out / role) for role, _ in roles}
    details: dict[str, dict] = {}
    probes = [n for n in names if catalog.kind(n) == "probe"]
    for role, source in roles:
        prefix = PREFIX[role]
        folders = {} if role in reused else {role: plain}
        folders.update({f"{prefix}{name}": [split] for name, split in prompt_splits.items()})
        weights = role != "original" and any(n.startswith("quantize-") for n in names)
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
        if role != "original":
            for name in (n for n in names if n.startswith("quantize-")):
                details[prefix + name] = _quantized(work, model, tokenizer, name, plain, source, prefix + name)
        del model

    for name in (n for n in names if n.startswith("relearn")):
        details[name] = _relearned(work, name, forget, plain, unrelated, settings.model, name)
        if settings.control:
            details["control-" + name] = _relearned(work, name, forget, plain, unrelated, settings.control,
                                                    "control-" + name, details[name])

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

    def source(self, role: str) -> str:
        return {"unlearned": self.settings.model, "original": self.settings.original,
                "control": self.settings.control}[role]

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


def _quantized(work: _Work, model, tokenizer, name: str, plain: list[EvalSplit], source: str, folder: str) -> dict:
    """Evaluate the weights' round trip through bitsandbytes into ``folder``, then put the weights back."""
    started = time.time()
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    change = quantize_weights(model, name.removeprefix("quantize-"))
    log.info("attack %s on %s: %d linear layers rounded, mean relative weight change %.4f", name, source,
             change["layers"], change["mean_relative_change"])
    work.evaluate(model, tokenizer, source, {folder: _weight_attack_splits(plain)}, plain_folder=folder)
    model.load_state_dict(saved)
    return {**change, "rows": None, "seconds": round(time.time() - started, 1)}


def _weight_attack_splits(plain: list[EvalSplit]) -> list[EvalSplit]:
    """Forget and utility splits (membership inference is not what a weight attack tests)."""
    return [split for split in plain if split.role != "holdout"]


def _relearned(work: _Work, name: str, forget: list[dict], plain: list[EvalSplit], unrelated: list[dict],
               source: str, folder: str, as_attacked: dict | None = None) -> dict:
    """Train ``source`` per the attack's protocol, evaluate the measured questions (and utility) into
    ``folder``, remove the models. ``as_attacked``: the unlearned model's details, whose learning
    rate and reported folds the control repeats (the same attack)."""
    settings, started = work.settings, time.time()
    lora, rate, epochs = settings.relearn_lora, settings.relearn_learning_rate, settings.relearn_epochs
    sweep = {}
    if name == "relearn":
        plans = [relearning.held_out_split(len(forget), settings.relearn_fraction, settings.seed)]
    elif name == "relearn-kfold":
        plans = relearning.folds(len(forget), settings.relearn_folds, settings.seed)
        lora, epochs = settings.relearn_fold_lora, settings.relearn_fold_epochs
        if as_attacked:
            rate, plans = as_attacked["learning_rate"], plans[as_attacked["first_reported_fold"] - 1:]
        elif len(settings.relearn_fold_learning_rates) > 1:
            rate, sweep = _sweep_rates(work, plans[0], forget, plain, source, folder)
            plans = plans[1:]
        else:
            rate = settings.relearn_fold_learning_rates[0]
    else:
        plans = [(None, list(range(len(forget))))]
    first = settings.relearn_folds - len(plans) + 1 if name == "relearn-kfold" else 1
    measured_examples, training, rows = [], [], []
    for index, (trained, measured) in enumerate(plans, start=first):
        records = unrelated if trained is None else [forget[i] for i in trained]
        target = f"{folder}/fold-{index}-eval" if name == "relearn-kfold" else folder
        examples, summary = _train_and_measure(work, source, records, measured, plain, name == "relearn",
                                               work.out / folder / (f"fold-{index}" if name == "relearn-kfold"
                                                                    else "training"),
                                               target, rate, epochs, lora)
        training.append(summary)
        measured_examples += examples
        rows += measured
    if name == "relearn-kfold":
        _write_combined_folds(work, folder, measured_examples)
    details = {"rows": rows, "training": training, "learning_rate": rate, "lora": lora, "epochs": epochs,
               "trained_on": "unrelated" if name == "relearn-unrelated" else "forget",
               "seconds": round(time.time() - started, 1)}
    if name == "relearn-kfold":
        details.update(first_reported_fold=first, folds=settings.relearn_folds)
        if sweep:
            details["learning_rate_sweep"] = sweep
    return details


def _train_and_measure(work: _Work, source: str, records: list[dict], measured: list[int], plain: list[EvalSplit],
                       utility: bool, training: Path, target: str, rate: float, epochs: float, lora: bool):
    """Fine-tune ``source`` on ``records``, evaluate forget rows ``measured`` (and utility) into
    ``target``; returns the measured examples and the training summary."""
    settings = work.settings
    log.info("relearning %s: training on %d records (lr %g), measuring %d forget questions", source, len(records),
             rate, len(measured))
    model_folder, trained_summary = relearning.relearn(settings, source, records, training, epochs, rate, lora)
    model, tokenizer = load_model(str(model_folder), settings.dtype, settings.device, settings.trust_remote_code,
                                  settings.allow_pickle)
    subset = EvalSplit("forget", f"{settings.forget}:measured", [plain[0].records[i] for i in measured])
    splits = [subset, *_weight_attack_splits(plain)[1:]] if utility else [subset]
    work.evaluate(model, tokenizer, str(model_folder), {target: splits})
    del model
    if not settings.keep_models:
        shutil.rmtree(model_folder, ignore_errors=True)
    return read_json(work.out / target / "forget.json")["examples"], trained_summary


def _sweep_rates(work: _Work, plan, forget: list[dict], plain: list[EvalSplit], source: str, folder: str) -> tuple[float, dict]:
    """Deeb & Roger keep the best of a learning-rate sweep. Each rate trains on fold 1's training
    folds; the rate whose model scores highest on fold 1's held-out questions (the first recovery
    metric computed there) is chosen, and fold 1 is then left out of what is reported, so the
    choice never sees a reported question."""
    trained, measured = plan
    scores = {}
    for rate in work.settings.relearn_fold_learning_rates:
        target = f"{folder}/sweep-lr{rate:g}-eval"
        _train_and_measure(work, source, [forget[i] for i in trained], measured, plain, False,
                           work.out / folder / f"sweep-lr{rate:g}", target, rate, work.settings.relearn_fold_epochs,
                           work.settings.relearn_fold_lora)
        columns = forget_columns(work.out / target)
        scores[f"{rate:g}"] = {m: finite_mean(columns[m]) for m in work.settings.recovery_metrics}
    metric = next((m for m in work.settings.recovery_metrics
                   if all(not math.isnan(s[m]) for s in scores.values())), None)
    if metric is None:
        raise UserError("relearn-kfold: no recovery metric is computed on fold 1, so no learning rate can be chosen; "
                        "give one --relearn-fold-learning-rates value")
    best = max(work.settings.relearn_fold_learning_rates, key=lambda r: scores[f"{r:g}"][metric])
    log.info("relearn-kfold on %s: learning rate %g chosen on fold 1 by %s", source, best, metric)
    return best, {"scores": scores, "chosen_by": metric, "chosen_on": "fold 1's held-out questions (not reported)"}


def _write_combined_folds(work: _Work, folder: str, examples: list[dict]) -> None:
    """Every reported fold's held-out questions in one forget split, the attack's evaluation."""
    split = EvalSplit("forget", f"{work.settings.forget}:kfold", [])
    result = aggregate(split, examples, {}, {"confidence": work.settings.confidence,
                                             "resamples": work.settings.bootstrap_resamples})
    write_evaluation(work.out / folder, work.settings, {"forget": result})


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
    atomic_write_json(folder / f"{role}.json", {"model": work.source(role), "examples": rows})


def _write_lens(work: _Work, model, tokenizer, forget: list[dict], role: str) -> None:
    lens = logit_lens(model, tokenizer, prompt_format(work.settings, tokenizer), forget,
                      eval_options(work.settings, model).max_length, work.settings.batch_size)
    folder = work.out / "logit-lens"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / f"{role}.json", lens)


def _attack_summary(settings: AttackSettings, out: Path, names: list[str], evaluations: dict[str, Path],
                    details: dict[str, dict], forget_count: int) -> dict:
    interval_options = {"confidence": settings.confidence, "resamples": settings.bootstrap_resamples}
    control = evaluations.get("control")
    attacks, measured = [], {}
    for name in names:
        entry = {"name": name, "kind": catalog.kind(name), "description": catalog.description(name),
                 "eval": None, "original_eval": None, "control_eval": None, "questions": forget_count, "details": {}}
        if name == "multiple-choice":
            entry["metrics"] = _choice_metrics(out, settings, interval_options)
        elif name == "logit-lens":
            entry["metrics"], entry["details"] = _lens_metrics(out, settings, interval_options)
        else:
            prompt = catalog.kind(name) == "prompt"
            info = details.get(name, {})
            rows = info.get("rows") or list(range(forget_count))
            original = out / f"original-{name}" if prompt else evaluations["original"]
            attacked_control = out / f"control-{name}" if control else None
            entry.update(eval=name, original_eval=_relative(original, out), questions=len(rows),
                         control_eval=_relative(attacked_control, out) if control else None,
                         details={k: v for k, v in info.items() if k != "rows"})
            entry["metrics"] = eval_attack_metrics(out / name, evaluations["unlearned"], original, rows, prompt,
                                                   settings.recovery_metrics, settings.min_gap, interval_options,
                                                   attacked_control, control)
            measured[name] = (rows, forget_columns(out / name),
                              forget_columns(attacked_control) if control else None)
        attacks.append(entry)
    return {
        "model": settings.model, "original": settings.original, "control": settings.control, "data": settings.data,
        "forget": settings.forget,
        "evaluations": {role: _relative(path, out) for role, path in evaluations.items()},
        "recovery_metrics": settings.recovery_metrics, "headline_metrics": list(FACT_METRICS),
        "min_gap": settings.min_gap, "recovery_against": WITH_CONTROL if control else NO_CONTROL,
        "intervals": {**interval_options, "method": PAIRED_METHOD_DESCRIPTION},
        "attacks": attacks,
        "robust": robust_scores(forget_columns(evaluations["unlearned"]),
                                forget_columns(control) if control else None, measured, settings.recovery_metrics,
                                forget_count, settings.seed),
    }


def _choice_metrics(out: Path, settings: AttackSettings, interval_options: dict) -> dict:
    """Accuracy of the unlearned and original models, against the control's accuracy (without a
    control: chance, the floor a model that forgot would sit at). A probe has no unattacked reading,
    so the floor serves as both control columns: recovery = E(a, floor) / E(o, floor)."""
    unlearned = read_json(out / "multiple-choice" / "unlearned.json")["examples"]
    original = read_json(out / "multiple-choice" / "original.json")["examples"]
    attacked = [float(e["chosen"] == e["correct"]) for e in unlearned]
    ceiling = [float(e["chosen"] == e["correct"]) for e in original]
    if settings.control:
        control = read_json(out / "multiple-choice" / "control.json")["examples"]
        floor = [float(e["chosen"] == e["correct"]) for e in control]
    else:
        floor = [e["chance"] for e in unlearned]
    entry = metric_entry(attacked, floor, ceiling, settings.min_gap, interval_options, "", floor, floor)
    return {"choice_accuracy": {**entry, "floor": "control" if settings.control else "chance"}}


def _lens_metrics(out: Path, settings: AttackSettings, interval_options: dict) -> tuple[dict, dict]:
    """The unlearned model at the layer chosen on a held-out half of the questions against its output
    layer, on the other half, with the original's output layer as the ceiling, on the probability of
    the answer's first fact token; the control read at the same layer and at its output layer."""
    unlearned = read_json(out / "logit-lens" / "unlearned.json")
    original = read_json(out / "logit-lens" / "original.json")
    column = "fact_token_probability"
    values = np.array([e[column] for e in unlearned["examples"]], dtype=float)
    ceiling = np.array([e[column][-1] for e in original["examples"]], dtype=float)
    values[~np.isfinite(ceiling)] = np.nan
    details = {"layers": unlearned["layers"], "unlearned_per_layer": unlearned["per_layer"],
               "original_per_layer": original["per_layer"]}
    control = read_json(out / "logit-lens" / "control.json") if settings.control else None
    if control:
        details["control_per_layer"] = control["per_layer"]
    chosen = held_out_layer(values, settings.seed)
    if chosen is None:
        return {column: metric_entry([], [], [], settings.min_gap, interval_options,
                                     "the logit lens chooses its layer on half the questions and reports the other "
                                     "half: it needs 2 questions whose fact token survived truncation")}, details
    layer, rows = chosen
    details.update(layer=layer + 1, layer_chosen_on=int(np.isfinite(values).all(axis=1).sum()) - len(rows))
    controls = (None, None)
    if control:
        scores = np.array([e[column] for e in control["examples"]], dtype=float)
        controls = (scores[rows, layer], scores[rows, -1])
    return {column: metric_entry(values[rows, layer], values[rows, -1], ceiling[rows], settings.min_gap,
                                 interval_options, "", *controls)}, details


def _relative(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix() if path.is_relative_to(out) else str(path)
