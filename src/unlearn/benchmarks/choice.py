"""Multiple-choice splits (WMDP's questions, MMLU, any file of ``question`` / ``choices`` /
``answer`` records), scored as lm-eval-harness scores those tasks zero-shot (``evaluation/choice.py``).

One registration (``BENCHMARK``, registered by ``builtin.py``): a suite without a generator of its
own (``unlearn data wmdp`` writes such splits), reached as ``--suites choice --choice.forget
forget_choice --choice.utility retain_choice``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from unlearn.benchmarks.registry import BenchmarkSpec, Suite, SuiteContext
from unlearn.config import PartSettings, comma_list

ARROWS = {"forget": "↓", "utility": "↑"}  # forget accuracy should fall to chance; utility should stay


class ChoiceSettings(PartSettings):
    """Which multiple-choice splits are scored, and in which of lm-eval's forms."""

    forget: list[str] = Field([], description="splits whose accuracy unlearning should bring to chance (WMDP)")
    utility: list[str] = Field([], description="splits whose accuracy it should keep (MMLU format)")
    format: Literal["letters", "continuation"] = Field(
        "letters", description="as lm-eval's WMDP/MMLU tasks (letters A-D after the options) or its continuation "
                               "tasks (each choice's own text)")

    _comma_lists = field_validator("forget", "utility", mode="before")(comma_list)


def load(source, settings, args: ChoiceSettings) -> list[tuple[str, str, list[dict]]]:
    """``(role, split, records)`` of each chosen split, each checked to hold multiple-choice records."""
    from unlearn.errors import UserError

    chosen = [("forget", name) for name in args.forget] + [("utility", name) for name in args.utility]
    if not chosen:
        raise UserError("--suites choice: name its splits with --choice.forget or --choice.utility")
    loaded = []
    for role, name in chosen:
        if source.split_kind(name) != "choice":
            raise UserError(f"--choice.{role} {name}: split '{name}' does not hold multiple-choice records "
                            "(question, choices, answer)")
        loaded.append((role, name, source.records(name)))
    return loaded


def run(model, tokenizer, loaded, context: SuiteContext) -> dict:
    from unlearn.evaluation.choice import evaluate_choices

    batch_size = context.settings.batch_size
    return {name: {"role": role, **evaluate_choices(model, tokenizer, records, name, batch_size, context.max_length,
                                                    context.args.format, **context.interval_options)}
            for role, name, records in loaded}


def headline(entry: dict) -> tuple[str, str] | None:
    """The first forget split's and the first utility split's accuracy (WMDP's and MMLU's)."""
    first = {role: next((f"choice.{s}" for s, r in entry.items() if r.get("role") == role), None)
             for role in ("forget", "utility")}
    return (first["forget"], first["utility"]) if None not in first.values() else None


def values(entry: dict) -> dict[str, tuple]:
    """``choice.<split>``: its accuracy and interval."""
    return {f"choice.{split}": (result.get("accuracy"), result.get("interval")) for split, result in entry.items()}


def tables(results) -> list:
    from unlearn.report.tables import cell, model_name

    splits: dict[str, dict] = {}  # every split evaluated in the run, in first-seen order, with its role and chance
    for model in results.models:
        for split, entry in (model.summary.get("multiple_choice") or {}).items():
            splits.setdefault(split, entry)
    if not splits:
        return []
    header = ["model"] + [f"{split} ({entry['role']}) {ARROWS[entry['role']]}" for split, entry in splits.items()]
    rows = []
    for model in results.models:
        entries = model.summary.get("multiple_choice") or {}
        rows.append([model_name(model, results.seeds)]
                    + [cell(entries[split]["accuracy"], entries[split].get("interval")) if entries.get(split) else "n/c"
                       for split in splits])
    chance = ", ".join(f"{split} {entry['chance']:.2f}" for split, entry in splits.items())
    return [(f"Multiple-choice accuracy, lm-eval's zero-shot format (95% Clopper-Pearson intervals over the "
             f"questions; chance: {chance})", header, rows)]


BENCHMARK = BenchmarkSpec(
    name="choice", description="multiple-choice splits (WMDP, MMLU format), scored as lm-eval does zero-shot",
    kinds=("choice",), hub="any split of question / choices / answer records, e.g. cais/wmdp's wmdp-bio.test",
    suite=Suite(
        description="accuracy of the chosen multiple-choice splits, chance level and per-question scores",
        summary_key="multiple_choice", load=load, run=run, values=values, tables=tables, settings=ChoiceSettings,
        file_prefix="choice", reads={"choice": "score multiple-choice questions with --choice.forget or "
                                              "--choice.utility"},
        splits=lambda args: [*args.forget, *args.utility], headline=headline))
