"""``unlearn attack``: run robustness attacks on an unlearned model and measure what comes back.

Output folder: one evaluation folder per attack (``forget.json``, utility splits for the attacks
that change weights, ``summary.json``), ``unlearned/``, ``original/`` and ``control/`` (the plain
evaluations, unless given), ``original-<attack>/`` (the original model under each prompt attack,
the ceiling of its recovery), ``control-<attack>/`` (the control model under every attack), one
folder per probe with each model's reading (``<role>.json``), and ``attack_summary.json`` last:
its presence means every attack finished. ``attack_parts.json`` lists the parts finished so far
(``Parts``): a run stopped part way and started again with ``--resume`` and the same settings in the
same folder goes on from them, which matters most for the relearning attacks, each a fine-tuning of
its own. An experiment's attack step always resumes (its folder's key holds every input).

Which attacks and how each runs come from their registrations (``catalog.py``): by kind, and by
what a model attack does (changes the loaded weights, or trains a copy). Order of work: every input
is checked before the first model loads; the original, control and unlearned models load once each
for the plain and prompt evaluations (one fused pass), the probes and the weight changes (restored
after each); the attacks that train run last, on a copy per attack and model.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from unlearn.attacks.catalog import Measured, Scoring
from unlearn.attacks.checks import check_forget, check_inputs, reused_eval
from unlearn.attacks.recovery import FACT_METRICS, RECOVERY_VERSION
from unlearn.attacks.settings import AttackSettings
from unlearn.attacks.summary import NO_CONTROL, WITH_CONTROL, eval_attack_metrics, forget_columns, robust_scores
from unlearn.data.benchmark import Benchmark
from unlearn.errors import UserError
from unlearn.evaluation.evaluator import evaluate_many
from unlearn.evaluation.run import (SUMMARY_FILE, EvalSettings, eval_options, load_semantic_models, load_splits,
                                    prompt_format, read_retain_model_eval, write_evaluation)
from unlearn.evaluation.splits import EvalSplit
from unlearn.files import RUN_SETTINGS_FILE, atomic_write_json
from unlearn.metrics.uncertainty import PAIRED_METHOD_DESCRIPTION
from unlearn.models.loading import load_model, resolve_device
from unlearn.report.collect import ATTACK_SUMMARY, read_json
from unlearn.training.run_folder import changed_settings, check_run_folder, record_run_settings, recorded_settings

log = logging.getLogger(__name__)
PREFIX = {"original": "original-", "control": "control-", "unlearned": ""}
PARTS_FILE = "attack_parts.json"


class Parts:
    """The finished parts of a run in ``out/attack_parts.json``: each evaluation folder, probe reading,
    weight change and retraining by name, with what it returned (a weight change's or a retraining's details,
    which the summary and the control's retraining read). Kept only while the folder's run has the same
    settings (``keep``); otherwise the ledger starts empty, so nothing of another run is taken as done."""

    def __init__(self, out: Path, keep: bool):
        self.path = out / PARTS_FILE
        self.done: dict[str, dict] = read_json(self.path) if keep and self.path.is_file() else {}
        if not keep:
            self.path.unlink(missing_ok=True)

    def __contains__(self, part: str) -> bool:
        return part in self.done

    def get(self, part: str) -> dict:
        return self.done[part]

    def add(self, part: str, details: dict | None = None) -> dict:
        """Record ``part`` as finished (with its ``details``) and return the details as they were stored."""
        self.done[part] = json.loads(json.dumps(details or {}))
        atomic_write_json(self.path, self.done)
        return self.done[part]


def run_attacks(settings: AttackSettings) -> dict:
    """Run every chosen attack, write the folder, return the attack summary."""
    measured = settings.measured()
    if not settings.forget:
        raise UserError("unlearn attack measures a forget split of question-answer records: give --forget")
    if settings.control_eval and not settings.control:
        raise UserError("--control-eval is the control model's evaluation: give the control model too (--control)")
    evaluation = as_eval_settings(settings)
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    plain = load_splits(benchmark, evaluation)
    forget = plain[0].records
    check_forget(forget, settings)
    prompt_splits = _prompt_splits(measured, forget, settings)
    _check_attacks(measured, forget, settings)
    reused = {role: reused_eval(folder, forget, role) for role, folder in
              (("unlearned", settings.unlearned_eval), ("original", settings.original_eval),
               ("control", settings.control_eval)) if folder}
    check_inputs(settings, measured, forget)  # every model and prompt, before the first model loads
    retain_model = (read_retain_model_eval(settings.retain_eval, [r["question"] for r in forget])
                    if settings.retain_eval else None)
    if not settings.control:
        log.warning("no --control model: recovery is measured against the unattacked floor, so an attack that only "
                    "teaches the answer format counts as recovered knowledge; give the retain model as --control")
    recorded = settings.model_dump(exclude={"overwrite", "threads", "resume"})
    out = check_run_folder(settings.out, recorded, settings.overwrite)
    parts = Parts(out, settings.resume and _same_run(out, recorded))
    record_run_settings(out, recorded)
    (out / ATTACK_SUMMARY).unlink(missing_ok=True)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    semantic = load_semantic_models(settings.embedder, settings.nli_model, str(resolve_device(settings.device)))
    run = AttackRun(settings, evaluation, out, semantic, retain_model, plain)

    roles = [("original", settings.original), *([("control", settings.control)] if settings.control else []),
             ("unlearned", settings.model)]
    evaluations = {role: reused.get(role, out / role) for role, _ in roles}
    details: dict[str, dict] = {}
    probes = [m for m in measured if m.kind == "probe"]
    for role, source in roles:
        prefix = PREFIX[role]
        folders = {} if role in reused else {role: plain}
        folders.update({f"{prefix}{name}": [split] for name, split in prompt_splits.items()})
        folders = {folder: splits for folder, splits in folders.items() if f"eval:{folder}" not in parts}
        role_probes = [probe for probe in probes if f"probe:{probe.name}:{role}" not in parts]
        # a weight attack's ceiling is the original model as it is: the original is not changed
        changes = [m for m in measured if m.attack.change_weights and role != "original"]
        details.update({prefix + c.name: parts.get(f"change:{prefix}{c.name}") for c in changes
                        if f"change:{prefix}{c.name}" in parts})
        changes = [c for c in changes if prefix + c.name not in details]
        if not (folders or role_probes or changes):
            continue  # reused or finished evaluations and nothing else to do with this model
        model, tokenizer = load_model(source, settings.dtype, settings.device, settings.trust_remote_code,
                                      settings.allow_pickle)
        if folders:
            run.evaluate(model, tokenizer, source, folders, plain_folder=role if role not in reused else None)
            for folder in folders:
                parts.add(f"eval:{folder}")
        for probe in role_probes:
            folder = out / probe.name
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(folder / f"{role}.json",
                              {"model": source, **probe.attack.read(run, model, tokenizer, probe.args)})
            parts.add(f"probe:{probe.name}:{role}")
        for change in changes:
            folder = prefix + change.name
            details[folder] = parts.add(f"change:{folder}", _changed_weights(run, model, tokenizer, change, source,
                                                                             folder))
        del model

    for attack in (m for m in measured if m.attack.trains):
        for folder, source in ((attack.name, settings.model),
                               *([("control-" + attack.name, settings.control)] if settings.control else [])):
            part = f"retrain:{folder}"
            as_attacked = details[attack.name] if folder != attack.name else None
            details[folder] = parts.get(part) if part in parts else parts.add(
                part, attack.attack.retrain(run, attack.args, attack.name, source, folder, as_attacked))

    summary = _attack_summary(settings, out, measured, evaluations, details, len(forget))
    _write_summary(out, evaluations["unlearned"], summary)
    return summary


def _same_run(out: Path, recorded: dict) -> bool:
    """Whether ``out`` holds a run of exactly these settings (so its finished parts are this run's)."""
    return recorded_settings(out) is not None and not changed_settings(out, recorded)


def as_eval_settings(settings: AttackSettings) -> EvalSettings:
    """The attack's evaluation settings in the form the evaluation module reads (no suite asked for:
    an attack measures the forget split and utility)."""
    return EvalSettings.model_validate({name: getattr(settings, name) for name in EvalSettings.model_fields
                                        if name in AttackSettings.model_fields})


class AttackRun:
    """What every attack of a run shares: its settings (``evaluation``: as the evaluation module reads
    them), output folder, semantic models, the plain splits and the forget records."""

    def __init__(self, settings: AttackSettings, evaluation: EvalSettings, out: Path, semantic, retain_model,
                 plain: list[EvalSplit]):
        self.settings, self.evaluation, self.out, self.semantic = settings, evaluation, out, semantic
        self.retain_model, self.plain, self.forget = retain_model, plain, plain[0].records

    def prompt_format(self, tokenizer):
        return prompt_format(self.evaluation, tokenizer)

    def max_length(self, model) -> int:
        """The token budget of a prompt and its answer, within the model's context."""
        return eval_options(self.evaluation, model).max_length

    def weight_attack_splits(self) -> list[EvalSplit]:
        """Forget and utility splits (membership inference is not what a weight attack tests)."""
        return [split for split in self.plain if split.role != "holdout"]

    def evaluate(self, model, tokenizer, source: str, folders: dict[str, list[EvalSplit]],
                 plain_folder: str | None = None) -> None:
        """Evaluate every folder's splits in one fused pass and write each folder; forget quality and
        PrivLeak only for ``plain_folder`` and weight attacks (same questions as the retain eval)."""
        started = time.time()
        splits = [split for group in folders.values() for split in group]
        results = iter(evaluate_many(model, tokenizer, self.prompt_format(tokenizer), splits, self.semantic,
                                     eval_options(self.evaluation, model)))
        named = self.evaluation.model_copy(update={"model": source})
        for folder, group in folders.items():
            (self.out / folder).mkdir(parents=True, exist_ok=True)
            by_role = {split.role: next(results) for split in group}
            retain = self.retain_model if folder == plain_folder else None
            write_evaluation(self.out / folder, named, by_role, retain,
                             {"evaluate_seconds": round(time.time() - started, 1)})


def _prompt_splits(measured: list[Measured], forget: list[dict], settings: AttackSettings) -> dict[str, EvalSplit]:
    """The rewritten forget split of each prompt attack."""
    splits = {}
    try:
        for attack in (m for m in measured if m.kind == "prompt"):
            records = attack.attack.rewrite(forget, attack.args, attack.name)
            splits[attack.name] = EvalSplit("forget", f"{settings.forget}:{attack.name}", records)
    except ValueError as error:
        raise UserError(f"{settings.data}/{settings.forget}: {error}") from None
    return splits


def _check_attacks(measured: list[Measured], forget: list[dict], settings: AttackSettings) -> None:
    """Each attack's own check of the forget split (enough records to split, the fields it reads)."""
    once = {m.attack.name: m for m in measured if m.attack.check}
    try:
        for attack in once.values():
            attack.attack.check(forget, attack.args, settings.seed)
    except ValueError as error:
        raise UserError(f"{settings.data}/{settings.forget}: {error}") from None


def _changed_weights(run: AttackRun, model, tokenizer, attack: Measured, source: str, folder: str) -> dict:
    """Evaluate the model with the attack's weight change into ``folder``, then put the weights back."""
    started = time.time()
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    log.info("attack %s on %s", attack.name, source)
    change = attack.attack.change_weights(model, attack.args, attack.name)
    run.evaluate(model, tokenizer, source, {folder: run.weight_attack_splits()}, plain_folder=folder)
    model.load_state_dict(saved)
    return {**change, "rows": None, "seconds": round(time.time() - started, 1)}


def _attack_summary(settings: AttackSettings, out: Path, measured: list[Measured], evaluations: dict[str, Path],
                    details: dict[str, dict], forget_count: int) -> dict:
    interval_options = {"confidence": settings.confidence, "resamples": settings.bootstrap_resamples}
    scoring = Scoring(settings.min_gap, settings.seed, interval_options)
    control = evaluations.get("control")
    attacks, columns = [], {}
    for attack in measured:
        name = attack.name
        entry = {"name": name, "kind": attack.kind, "description": attack.description,
                 "settings": attack.args.model_dump() if attack.args else {},
                 "eval": None, "original_eval": None, "control_eval": None, "questions": forget_count, "details": {}}
        if attack.kind == "probe":
            roles = ["unlearned", "original", *(["control"] if settings.control else [])]
            readings = {role: read_json(out / name / f"{role}.json") for role in roles}
            entry["metrics"], entry["details"] = attack.attack.score(readings, attack.args, scoring)
        else:
            prompt = attack.kind == "prompt"
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
            columns[name] = (rows, forget_columns(out / name),
                             forget_columns(attacked_control) if control else None)
        attacks.append(entry)
    return {
        "model": settings.model, "original": settings.original, "control": settings.control, "data": settings.data,
        "forget": settings.forget,
        "evaluations": {role: _relative(path, out) for role, path in evaluations.items()},
        "recovery_metrics": settings.recovery_metrics, "headline_metrics": list(FACT_METRICS),
        "min_gap": settings.min_gap, "recovery_against": WITH_CONTROL if control else NO_CONTROL,
        "recovery_version": RECOVERY_VERSION,
        "intervals": {**interval_options, "method": PAIRED_METHOD_DESCRIPTION},
        "attacks": attacks,
        "robust": robust_scores(forget_columns(evaluations["unlearned"]),
                                forget_columns(control) if control else None, columns, settings.recovery_metrics,
                                forget_count, settings.seed),
    }


def rescore_attacks(out: str | Path) -> dict:
    """Rewrite ``attack_summary.json`` of a finished attack folder from the files its attacks wrote,
    without running an attack again: for a summary written before recovery's definition changed
    (``RECOVERY_VERSION``). The rows a relearning attack measured are found by their questions."""
    out = Path(out)
    if not (out / ATTACK_SUMMARY).is_file():
        raise UserError(f"{out}: no {ATTACK_SUMMARY}: not a finished attack folder")
    old = read_json(out / ATTACK_SUMMARY)
    recorded = recorded_settings(out, resolved=True)
    if recorded is None:
        raise UserError(f"{out}: no readable {RUN_SETTINGS_FILE}: not an attack folder")
    settings = AttackSettings.model_validate({**recorded, "out": str(out)})
    measured = settings.measured()
    evaluations = {role: out / path if (out / path).is_dir() else Path(path)
                   for role, path in old["evaluations"].items()}
    questions = [e["question"] for e in read_json(evaluations["unlearned"] / "forget.json")["examples"]]
    position = {q: i for i, q in enumerate(questions)}
    if len(position) != len(questions):
        raise UserError(f"{out}: the forget split repeats a question, so the rows an attack measured cannot be found")
    details = {}
    for entry in (e for e in old["attacks"] if e["kind"] == "model"):  # a prompt attack measures every row
        asked = [e["question"] for e in read_json(out / entry["name"] / "forget.json")["examples"]]
        if not set(asked) <= position.keys():
            raise UserError(f"{out / entry['name']}: questions that the unlearned model's evaluation does not have")
        details[entry["name"]] = {**entry["details"], "rows": [position[q] for q in asked]}
    summary = _attack_summary(settings, out, measured, evaluations, details, len(questions))
    _write_summary(out, evaluations["unlearned"], summary)
    return summary


def _write_summary(out: Path, unlearned_eval: Path, summary: dict) -> None:
    """``attack_summary.json``, and the worst case beside the forget metrics of the unlearned model's
    evaluation where it is this folder's own."""
    if unlearned_eval == out / "unlearned":
        unlearned_summary = read_json(unlearned_eval / SUMMARY_FILE)
        atomic_write_json(unlearned_eval / SUMMARY_FILE, {**unlearned_summary, "robust": summary["robust"]})
    atomic_write_json(out / ATTACK_SUMMARY, summary)


def _relative(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix() if path.is_relative_to(out) else str(path)
