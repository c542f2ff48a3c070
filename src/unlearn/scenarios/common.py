"""Steps every scenario is built from: materialize the data, fine-tune, unlearn, evaluate.

Each step calls the same library function as its command (``unlearn finetune``, ``forget``,
``eval``) with the experiment's overrides, inside a hash-keyed step folder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from unlearn.config import validate_settings
from unlearn.data.benchmark import Benchmark, read_split_file, write_benchmark
from unlearn.data.requests import request_splits
from unlearn.errors import UserError
from unlearn.evaluation.run import METRICS_VERSION, EvalSettings, evaluate_model
from unlearn.scenarios.experiment import ExperimentSettings, MethodEntry, method_values, with_scenario_suites
from unlearn.scenarios.registry import find_scenario
from unlearn.scenarios.selection_refs import Anchors, forget_recording, with_references
from unlearn.scenarios.steps import Steps, folder_fingerprint
from unlearn.training.finetune import FinetuneSettings, finetune
from unlearn.training.forget import forget
from unlearn.training.forget_settings import ForgetSettings

UTILITY_SPLITS = ("real_authors_perturbed", "world_facts_perturbed")


def machine(settings: ExperimentSettings) -> dict:
    return {"device": settings.device, "threads": settings.threads}


def identity(source: str | Path | None):
    """How a model or data source enters a step key: a step's output by its hashed folder name
    (so the key does not depend on where the run folder lives), anything else as given."""
    return source.name if isinstance(source, Path) else source


def step_input(value):
    """``identity`` of every path in ``value``, also inside a section (``curve: {retain_eval: STEP}``)."""
    if isinstance(value, dict):
        return {k: step_input(v) for k, v in value.items()}
    return identity(value) if isinstance(value, Path) else value


def as_text(value):
    """``value`` with every path, also inside a section, as the string a command's settings take."""
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    return str(value) if isinstance(value, Path) else value


@dataclass(frozen=True)
class Generated:
    """A scenario's built-in benchmark (``data: builtin``): how it enters the data step's key, and a
    function writing its splits. With ``by_content`` the key also holds a digest of the records, so
    that a changed generator regenerates the data."""

    key: dict
    splits: Callable[[], dict[str, list[dict]]]
    by_content: bool = False


def builtin_benchmark(settings: ExperimentSettings, key: dict, by_content: bool = False, **options) -> Generated:
    """The scenario's registered benchmark (its registration's ``benchmark``) written by that benchmark's
    generator with ``options`` (``seed=...`` and the generator's own, as ``unlearn data NAME`` takes them),
    entering the data step's key as ``key``: the scenario says what its settings mean to the generator,
    the benchmark registry how the data is made."""
    from unlearn.benchmarks.registry import benchmark

    name = find_scenario(settings.scenario).benchmark
    spec = benchmark(name) if name else None
    if spec is None or spec.generator is None:
        raise UserError(f"scenario {settings.scenario} has no built-in benchmark; give 'data' a folder or a Hub id")
    return Generated(key, lambda: spec.generator.generate(**options), by_content)


def suite_splits(settings: ExperimentSettings, suite_args: dict[str, dict] | None = None) -> list[str]:
    """The splits the scenario's registered suites read, each with its settings in ``suite_args`` (its
    defaults where none are given): what the scenario's data step copies for its evaluations."""
    from unlearn.benchmarks.registry import benchmark

    found = []
    for name in find_scenario(settings.scenario).suites:
        suite = benchmark(name).suite
        if suite.splits is not None:
            found += suite.splits(suite.args((suite_args or {}).get(name)))
    return list(dict.fromkeys(found))


def data_step(settings: ExperimentSettings, steps: Steps, splits: list[str], generated: Generated | None = None,
              utility_records: int | None = None, requests: bool = False, request_count: int | None = None) -> Path:
    """A local benchmark folder holding ``splits`` (utility splits cut to ``utility_records``), read from the
    experiment's data, or with ``data: builtin`` from the scenario's ``generated`` benchmark; with ``requests``
    the continual scenario's request splits of the forget split (``request_count`` of them, default its
    task_id groups)."""
    everything = None
    if settings.data == "builtin":
        if generated is None:
            raise UserError(f"scenario {settings.scenario} has no built-in benchmark; give 'data' a folder or a Hub id")
        source = dict(generated.key)
        if generated.by_content:
            everything = _generate(generated)
            source["content"] = _digest(everything)
    elif Path(settings.data).is_dir():
        source = {"folder": str(Path(settings.data).resolve()), "content": folder_fingerprint(settings.data)}
    else:
        source = {"hub": settings.data}
    inputs = {**source, "splits": sorted(splits), "utility_records": utility_records,
              "requests": settings.forget if requests else None}
    if requests and request_count:
        inputs["request_count"] = request_count

    def write(folder: Path) -> None:
        if settings.data == "builtin":
            made = everything or _generate(generated)
            chosen = {name: made[name] for name in splits if name in made}
        else:
            benchmark = Benchmark(settings.data)
            available = set(benchmark.split_names())
            chosen = {name: benchmark.records(name) for name in splits if name in available}
        for name in UTILITY_SPLITS:
            if name in chosen and utility_records:
                chosen[name] = chosen[name][:utility_records]
        if requests:
            forget = chosen.get(f"{settings.forget}_perturbed") or chosen.get(settings.forget)
            if forget is None:
                raise UserError(f"{settings.data}: no split '{settings.forget}' to split into forget requests")
            chosen.update(request_splits(forget, f"{settings.data}/{settings.forget}", request_count))
        write_benchmark(chosen, folder)

    return steps.run("data", inputs, write)


def _generate(generated: Generated) -> dict[str, list[dict]]:
    try:
        return generated.splits()
    except ValueError as error:
        raise UserError(f"built-in benchmark: {error}") from None


def _digest(splits: dict[str, list[dict]]) -> str:
    return hashlib.sha256(json.dumps(splits, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def finetune_step(settings: ExperimentSettings, steps: Steps, data: Path, split: str, name: str) -> Path:
    values = {**settings.finetune, **machine(settings), "model": settings.model, "split": split, "resume": True}
    return _command_step(steps, name, FinetuneSettings, finetune, values, data)


def forget_step(settings: ExperimentSettings, steps: Steps, model: str | Path, data: Path, entry: MethodEntry,
                forget_split: str, name: str, reference: str | Path | None = None, retain: str | None = None,
                anchors: Anchors | None = None, evaluation: dict | None = None, eval_data: Path | None = None) -> Path:
    """``anchors``: the scenario's target and retain model, from which a selection rule's reference values
    (``select: utility-floor`` without ``target_utility``) and the curve's ``retain_eval`` are filled
    (``selection_refs.py``). ``evaluation`` (``eval_step``'s ``suite_args`` and split choice) and
    ``eval_data`` (where the scenario's questions are, when not in ``data``): how the scenario evaluates
    the model this step makes, which a ``tune:`` study's trials are evaluated by."""
    values = {**method_values(settings.unlearn, entry), **machine(settings), "model": model,
              "forget": forget_split, "retain": retain or settings.retain, "reference": reference, "resume": True}
    if entry.tune is not None:  # the study first, on the same model and data; its chosen settings then
        from unlearn.scenarios.tuned import tuned_values

        evaluated = evaluation_values(settings, **(evaluation or {}))
        if eval_data is not None and eval_data != data:
            evaluated["data"] = eval_data
        values = tuned_values(steps, name, entry.tune, values, evaluated, data,
                              anchors.retain_eval if anchors else None)
    if anchors is None:
        return _command_step(steps, name, ForgetSettings, forget, values, data)
    values, references = with_references(steps, values, anchors, data)
    return _command_step(steps, name, ForgetSettings, forget_recording(references), values, data,
                         {"selection_references": references} if references else None)


def eval_step(settings: ExperimentSettings, steps: Steps, model: str | Path, data: Path, name: str,
              retain_eval: Path | None = None, suite_args: dict[str, dict] | None = None, **split_choice) -> Path:
    """``split_choice`` names the forget / retain / holdout splits where they differ from the defaults.
    The scenario's registered suites run beside the ``eval`` section's, with ``suite_args`` (the
    scenario's settings for them, by suite) over the section's own."""
    values = {**evaluation_values(settings, suite_args, **split_choice), "model": model, "retain_eval": retain_eval}
    return _command_step(steps, name, EvalSettings, evaluate_model, values, data,
                         {"metrics_version": METRICS_VERSION})


def target_eval_step(steps: Steps, model: str | Path, data: Path, evaluation: dict) -> Path:
    """``model`` (what a tune study's trials start from) evaluated with ``evaluation``, the trials' evaluation
    settings (on ``data`` unless they name another folder): the scenario's own ``eval-target`` step, reused,
    where those settings are the scenario's, and one step for every study that shares them."""
    values = {key: value for key, value in evaluation.items() if key != "data"}
    return _command_step(steps, "eval-target", EvalSettings, evaluate_model,
                         {**values, "model": model, "retain_eval": values.get("retain_eval")},
                         evaluation.get("data", data), {"metrics_version": METRICS_VERSION})


def evaluation_values(settings: ExperimentSettings, suite_args: dict[str, dict] | None = None,
                      **split_choice) -> dict:
    """The settings a scenario evaluates a model with, less the model and the retain model's evaluation:
    the eval section with the scenario's suites (``suite_args`` over the section's), the machine, and the
    forget / retain / holdout splits where ``split_choice`` names others than the defaults."""
    return {**with_scenario_suites(settings.eval, settings.scenario, suite_args), **machine(settings),
            "forget": settings.forget, **split_choice}


def attack_step(settings: ExperimentSettings, steps: Steps, model: Path, data: Path, name: str, original: str | Path,
                unlearned_eval: Path, original_eval: Path, retain_eval: Path | None, control: str | Path | None = None,
                control_eval: Path | None = None) -> Path:
    """``unlearn attack`` on an unlearned model, reusing its evaluation and the original's; ``control``
    (the retain model, with its evaluation) is attacked the same way, so that recovery counts only
    what comes back beyond it. Recovery's definition is not in the step's key: a finished step whose
    summary predates it is rescored from its files (``rescore_attacks``), not attacked again."""
    from unlearn.attacks.recovery import RECOVERY_VERSION
    from unlearn.attacks.run import rescore_attacks, run_attacks
    from unlearn.attacks.settings import AttackSettings, shared_eval_values
    from unlearn.report.collect import ATTACK_SUMMARY, read_json

    values = {**shared_eval_values(settings.eval), **(settings.attacks or {}), **machine(settings), "model": model,
              "original": original, "forget": settings.forget, "unlearned_eval": unlearned_eval,
              "original_eval": original_eval, "retain_eval": retain_eval, "control": control,
              "control_eval": control_eval if control else None, "resume": True}
    folder = _command_step(steps, name, AttackSettings, run_attacks, values, data,
                           {"metrics_version": METRICS_VERSION})
    written = read_json(folder / ATTACK_SUMMARY).get("recovery_version")
    if written != RECOVERY_VERSION:
        steps.progress(f"rescore {name}: its recovery is of version {written}, now {RECOVERY_VERSION}")
        rescore_attacks(folder)
    return folder


def _command_step(steps: Steps, name: str, settings_model, command, values: dict, data: Path,
                  versions: dict | None = None) -> Path:
    """Run ``command`` (finetune, forget, evaluate_model) with ``values`` in a hash-keyed step folder.

    The key holds every value that shapes the result (step outputs by their folder names, not
    the thread count, and ``versions`` of the definitions it computes); the step folder belongs to
    the experiment, so it may be overwritten."""
    inputs = {k: step_input(v) for k, v in {**values, "data": data}.items() if k not in ("threads", "resume")}
    inputs.update(versions or {})

    def act(folder: Path) -> None:
        as_given = {k: as_text(v) for k, v in values.items()}
        command(validate_settings(settings_model, {**as_given, "data": str(data), "out": str(folder),
                                                   "overwrite": True}, f"step {name}"))

    return steps.run(name, inputs, act)


def training_overlap_notes(data: Path, trained: dict[str, str], evaluated: dict[str, str]) -> list[str]:
    """A note for each evaluated split that shares questions with a split some step trained on
    (``trained``: what trained on it -> split; ``evaluated``: evaluation role -> split)."""
    def questions(split: str) -> set[str]:
        path = data / f"{split}.jsonl"
        return {r["question"] for r in read_split_file(path)} if path.is_file() else set()

    notes = []
    for role, evaluated_split in evaluated.items():
        seen = questions(evaluated_split)
        for what, trained_split in trained.items():
            shared = len(seen & questions(trained_split))
            if shared:
                notes.append(f"{role} evaluation ({evaluated_split}): {shared} of {len(seen)} questions are in "
                             f"{trained_split}, which {what} trained on")
    return notes
