"""Gather what a report shows from a run folder: its manifest and the evaluations it names."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from unlearn.benchmarks.registry import suites
from unlearn.errors import UserError
from unlearn.evaluation.evaluator import aggregate
from unlearn.evaluation.metric_registry import report_columns, report_order
from unlearn.evaluation.splits import EvalSplit
from unlearn.metrics.uncertainty import CONFIDENCE, RESAMPLES

MANIFEST = "experiment.json"
ATTACK_SUMMARY = "attack_summary.json"  # of an ``unlearn attack`` folder (unlearn.attacks imports this module)
# The main table's model-level columns around the split metrics that declare themselves headline.
LEADING_COLUMNS = [("overall", "forget_quality"), ("overall", "model_utility_tofu"),
                   ("overall", "model_utility_seed_paper"), ("overall", "forget_efficacy")]
TRAILING_COLUMNS = [("overall", "mia_auc_min_k_plus_plus"), ("overall", "priv_leak_min_k_plus_plus")]
MODEL_ROW = ("label", "role", "model", "eval")  # what each model of an experiment.json names
INTERVALS = {"confidence": CONFIDENCE, "resamples": RESAMPLES}


def main_columns() -> list[tuple[str, str]]:
    """``(group, metric)`` columns of the main table and the leaderboard; group "overall" is the
    model-level summary, the others are split roles."""
    return LEADING_COLUMNS + report_columns("headline") + TRAILING_COLUMNS


def continual_metrics() -> list[str]:
    """Forget-split metrics shown per forget request in the continual scenario."""
    return [m.name for m in report_order() if m.continual]


@dataclass
class ModelResult:
    label: str
    role: str
    summary: dict
    splits: dict[str, list[dict]]  # role -> per-example rows
    train: dict = field(default_factory=dict)
    seed: int | None = None  # the training seed, in an experiment with several
    attacks: dict | None = None  # its attack_summary.json, in an experiment with attacks
    attacks_folder: Path | None = None  # the folder that summary's eval paths are relative to
    folder: Path | None = None  # the model's folder (its trajectory.json, when it was trained with a curve)

    def value(self, group: str, name: str) -> float | None:
        if group == "overall":
            return self.summary["overall"].get(name)
        suite = suite_values(self.summary).get(f"{group}.{name}")
        if suite is not None:
            return suite[0]
        return self.summary["splits"].get(group, {}).get("metrics", {}).get(name)

    def interval(self, group: str, name: str) -> list[float] | None:
        if group == "overall":
            return (self.summary.get("overall_intervals") or {}).get(name)
        suite = suite_values(self.summary).get(f"{group}.{name}")
        if suite is not None:
            return suite[1]
        return (self.summary["splits"].get(group, {}).get("intervals") or {}).get(name)


def suite_values(summary: dict) -> dict[str, tuple[float | None, list | None]]:
    """The benchmark suites' numbers of an evaluation, flat, with their intervals (``muse.knowmem_f``,
    ``rwku.forget_level2``, ``choice.forget_choice``, ``lm_eval.mmlu.acc``, ...): each registered suite's
    ``values`` of its entry in the summary (``benchmarks/registry.py``)."""
    found: dict[str, tuple[float | None, list | None]] = {}
    for spec in suites().values():
        found.update(spec.suite.values(summary.get(spec.suite.summary_key) or {}))
    return found


@dataclass
class RunResults:
    folder: Path
    manifest: dict
    models: list[ModelResult]
    continual: list[dict]  # one row per (method, request[, seed])

    @property
    def seeds(self) -> list[int | None]:
        return list(dict.fromkeys(m.seed for m in self.models))

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(m.label for m in self.models))

    def of_seed(self, seed: int | None) -> list[ModelResult]:
        return [m for m in self.models if m.seed == seed]

    def of_label(self, label: str) -> list[ModelResult]:
        return [m for m in self.models if m.label == label]


def read_run(folder: str | Path, continual: bool = True) -> RunResults:
    """The run's models and, unless ``continual`` is false, its per-request continual rows
    (each recomputed with intervals from the per-example task ids)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise UserError(f"{folder} holds no finished experiment ({MANIFEST} is missing); run 'unlearn run' first")
    manifest = read_manifest(path)
    rows = manifest.get("models")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and all(isinstance(r.get(k), str) for k in MODEL_ROW)
                                             for r in rows):
        raise UserError(f"{path} is damaged: 'models' must list the run's models, each with "
                        f"{', '.join(MODEL_ROW)}; run 'unlearn run' again")
    models = [_model_result(folder, row) for row in rows]
    continual = [_continual_row(folder, step) for step in manifest.get("continual", [])] if continual else []
    return RunResults(folder, manifest, models, continual)


def read_manifest(path: Path) -> dict:
    """An experiment folder's ``experiment.json``, refused in one line when damaged (a run killed
    while it was copied, an edit by hand)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UserError(f"{path} is damaged (not valid JSON: {str(error).splitlines()[0]}); delete it to run the "
                        "experiment anew, or choose another folder") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path} is damaged (not a JSON object); delete it to run the experiment anew, or choose "
                        "another folder")
    return manifest


def read_summary(path: Path) -> dict:
    """An evaluation's ``summary.json``, its shape checked, so that a damaged or foreign file is
    refused in one line rather than ranked."""
    summary = read_json(path)
    problem = _summary_problem(summary)
    if problem:
        raise UserError(f"{path} is not an llm-unlearn evaluation summary ({problem}); run 'unlearn eval' again")
    return summary


def _summary_problem(summary) -> str | None:
    if not isinstance(summary, dict):
        return f"a JSON {type(summary).__name__}, not an object"
    if not isinstance(summary.get("overall"), dict) or not isinstance(summary.get("splits"), dict):
        return "'overall' or 'splits' is missing"
    groups = {"overall": summary["overall"]}
    for role, split in summary["splits"].items():
        if not isinstance(split, dict) or not isinstance(split.get("metrics"), dict):
            return f"split '{role}' has no 'metrics'"
        groups[role] = split["metrics"]
    for group, metrics in groups.items():
        for name, value in metrics.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                return f"metric '{group}.{name}' is {json.dumps(value)[:40]}, not a number"
    return None


def _model_result(folder: Path, row: dict) -> ModelResult:
    evaluated = folder / row["eval"]
    summary = read_summary(evaluated / "summary.json")
    splits = {role: read_json(evaluated / f"{role}.json")["examples"] for role in summary["splits"]}
    model = folder / row["model"]
    train = read_json(model / "train_summary.json") if (model / "train_summary.json").is_file() else {}
    attacks_folder = folder / row["attacks"] if row.get("attacks") else None
    attacks = read_json(attacks_folder / ATTACK_SUMMARY) if attacks_folder else None
    return ModelResult(row["label"], row["role"], summary, splits, train, row.get("seed"), attacks, attacks_folder,
                       model)


def _continual_row(folder: Path, step: dict) -> dict:
    """One request of one method: the request just unlearned ("current"), the earlier ones
    (from the per-example task ids), and utility."""
    evaluated = folder / step["eval"]
    examples = read_json(evaluated / "forget.json")["examples"]
    summary = read_json(evaluated / "summary.json")
    current = max(e["task_id"] for e in examples)
    row = {"method": step["label"], "request": step["request"]}
    if step.get("seed") is not None:
        row["seed"] = step["seed"]
    for group, subset in (("current", [e for e in examples if e["task_id"] == current]),
                          ("earlier", [e for e in examples if e["task_id"] != current])):
        result = aggregate(EvalSplit("forget", "subset", []), subset, {}, INTERVALS) if subset else None
        for name in continual_metrics():
            row[f"{group}_{name}"] = result.metrics.get(name) if result else None
            row[f"{group}_{name}_interval"] = result.intervals.get(name) if result else None
    row["model_utility_tofu"] = summary["overall"].get("model_utility_tofu")
    row["model_utility_tofu_interval"] = (summary.get("overall_intervals") or {}).get("model_utility_tofu")
    row["retain_fact_accuracy"] = summary["splits"].get("retain", {}).get("metrics", {}).get("fact_accuracy")
    return row


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
