"""The numbers a meta-evaluation judges, read back from finished folders: each forget metric's value per model
(an ``unlearn eval`` folder's ``forget.NAME``, as ``unlearn compare`` names it), before and after each attack
(an ``unlearn attack`` folder's ``attack_summary.json``), and which way each metric points.

Light (JSON only): everything here is a pure function of files a user can inspect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from unlearn.errors import UserError
from unlearn.evaluation.metric_registry import HIGHER, LOWER, SplitMetric, split_metrics

RELEARN = "relearn"
QUANTIZE_PREFIX = "quantize-"  # quantize-4bit is measured as quantize-nf4 and quantize-fp4
ATTACKS = [RELEARN, "quantize-4bit"]  # what ``unlearn meta-eval`` runs on every unlearned model


def forget_metrics() -> list[SplitMetric]:
    """Every metric the evaluator computes on the forget split: the registered split metrics."""
    return list(split_metrics())


def knowledge_direction(metric: SplitMetric) -> str | None:
    """Which way means more knowledge of the forget data: ``higher`` or ``lower``; None when the metric does not say.

    Defined once, from the registry: a metric's ``forget_direction`` is the direction that is better on the forget
    split, where less knowledge is better, so more knowledge is the other way (``↓`` better: higher = knows more,
    as for ROUGE or probability; ``↑`` better: lower = knows more, as for the forget truth ratio ``min(R, 1/R)``).
    A metric whose forget split has no better direction (``→x``) gives None. Token entropy is registered ``↑``
    because collapsed, repetitive answers are bad, and the refusal rate because targeted unlearning asks for
    refusals, not because either measures knowledge: their faithfulness says how well they track it.
    """
    return {LOWER: "higher", HIGHER: "lower"}.get(metric.forget_direction)


@dataclass(frozen=True)
class Evaluation:
    """One model's finished evaluation: each forget metric's value (None: not computed, with the reason in
    ``reasons``) and its forget questions, in order."""

    folder: Path
    values: dict[str, float | None]
    reasons: dict[str, str]
    questions: list[str]


def read_evaluation(folder: str | Path, model_id: str) -> Evaluation:
    """The forget metrics of an ``unlearn eval`` folder; a folder without a finished evaluation of a forget split is
    refused in one line."""
    folder = Path(folder)
    try:
        summary = _json(folder / "summary.json")
        forget = summary["splits"]["forget"]["metrics"]
        questions = [e["question"] for e in _json(folder / "forget.json")["examples"]]
        reasons = summary.get("not_computed") or {}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"pool model '{model_id}': {folder} holds no finished evaluation of a forget split "
                        f"(summary.json and forget.json; {_what(error)}); run 'unlearn eval' with --forget") from None
    values = {m.name: _number(forget.get(m.name)) for m in forget_metrics()}
    why = {name: str(reasons.get(f"forget.{name}") or "not in the evaluation") for name, v in values.items()
           if v is None}
    return Evaluation(folder, values, why, questions)


def read_attacks(folder: str | Path, model_id: str) -> dict[str, dict[str, dict]]:
    """Per measured attack (``relearn``, ``quantize-nf4``, ...), per forget metric, the attack summary's means on
    the questions the attack measured: ``unlearned`` and ``attacked`` (the model before and after), ``control``
    and ``control_attacked`` (its retain model, the same way)."""
    path = Path(folder) / "attack_summary.json"
    try:
        summary = _json(path)
        return {entry["name"]: entry.get("metrics") or {} for entry in summary["attacks"]
                if entry["name"] == RELEARN or entry["name"].startswith(QUANTIZE_PREFIX)}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"pool model '{model_id}': {path} is no finished attack summary ({_what(error)}); run "
                        f"'unlearn attack --attacks {','.join(ATTACKS)}' with its retain model as --control") from None


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _what(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return f"no {Path(error.filename).name}"
    return f"unreadable: {type(error).__name__} {error}"
