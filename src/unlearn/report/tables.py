"""The report's tables as ``(title, header, rows)``, shared by the Markdown and HTML pages.

One seed: every cell is a value with its interval, ``0.43 [0.35, 0.51]``, and each
model is compared with the target on the same questions (a paired difference and its interval).
Several seeds: each cell is the mean and standard deviation over the seeds, and a table says
which differences between models have the same sign in every seed.
"""

from __future__ import annotations

import statistics

from unlearn.evaluation.compare import paired_difference
from unlearn.evaluation.metric_registry import report_columns
from unlearn.evaluation.summary import TOFU_UTILITY_METRICS
from unlearn.evaluation.table import direction, metric_label
from unlearn.families import ONE_MODEL
from unlearn.metrics.uncertainty import excludes
from unlearn.report.collect import INTERVALS, ModelResult, RunResults, main_columns

SPLIT_NAMES = {"forget": "forget", "retain": "retain", "real_authors": "real authors", "world_facts": "world facts"}
Table = tuple[str, list[str], list[list[str]]]


def compared_columns() -> list[tuple[str, str]]:
    """What the paired and across-seed comparisons look at: the split metrics that declare it
    (forgetting, kept knowledge), then utility."""
    return report_columns("paired") + [("overall", "model_utility_tofu")]


def cell(value, interval=None) -> str:
    if value is None:
        return "n/c"
    text = _number(value)
    return f"{text} [{_number(interval[0])}, {_number(interval[1])}]" if interval else text


def seed_cell(values: list[float | None]) -> str:
    """Mean ± standard deviation over seeds (n/c if any seed did not compute it)."""
    if not values or any(v is None for v in values):
        return "n/c"
    if len(values) == 1:
        return _number(values[0])
    return f"{_number(statistics.fmean(values))} ± {_number(statistics.stdev(values))}"


def column_title(group: str, name: str) -> str:
    return f"{group if group != 'overall' else ''} {metric_label(name)} {direction(group, name)}".strip()


def result_tables(results: RunResults) -> list[Table]:
    seeds = results.seeds
    columns = main_columns()
    header = ["model"] + [column_title(g, n) for g, n in columns] + ["train s", "inference"]
    if len(seeds) == 1:
        title = "Results (95% intervals over the questions: exact for proportions, BCa bootstrap otherwise)"
        tables = [(title, header, _rows(results.models, columns))]
    else:
        names = ", ".join(str(s) for s in seeds)
        spread = [[label] + [seed_cell([m.value(g, n) for m in results.of_label(label)]) for g, n in columns]
                  + [seed_cell([m.train.get("train_seconds") for m in results.of_label(label)]),
                     inference_cell(results.of_label(label)[0])]
                  for label in results.labels]
        tables = [(f"Results: mean ± standard deviation over {len(seeds)} training seeds ({names})", header, spread),
                  consistency_table(results)]
    tables.append(paired_table(results))
    roles = [r for r in SPLIT_NAMES if any(r in m.summary["splits"] for m in results.models)]
    per_split = [(r, n) for r in roles for n in TOFU_UTILITY_METRICS]
    split_header = ["model"] + [f"{SPLIT_NAMES[r]} {metric_label(n)} {direction(r, n)}" for r, n in per_split]
    tables.append(("ROUGE-L, probability and truth ratio per split", split_header,
                   [[model_name(m, seeds)] + [cell(m.value(r, n), m.interval(r, n)) for r, n in per_split]
                    for m in results.models]))
    if len(seeds) > 1:
        tables.append(("Results per seed", header, _rows(results.models, columns, with_seed=True)))
    if results.continual:
        tables.append(continual_table(results))
    return tables


def paired_table(results: RunResults) -> Table:
    """Each model minus the target on the same questions, per seed; ``*``: the interval excludes 0."""
    compared = compared_columns()
    header = ["model"] + [f"Δ {column_title(g, n)}" for g, n in compared]
    rows = []
    for seed in results.seeds:
        models = results.of_seed(seed)
        target = next((m for m in models if m.role == "anchor"), None)
        for model in models:
            if target is None or model is target:
                continue
            row = [model_name(model, results.seeds)]
            for group, name in compared:
                found = paired_difference(model.splits, target.splits, group, name, INTERVALS)
                row.append("n/c" if found is None else
                           cell(found[0], found[1]) + (" *" if excludes(found[1]) else ""))
            rows.append(row)
    anchor = next((m.label for m in results.models if m.role == "anchor"), "target")
    return (f"Each model minus the {anchor}, paired on the same questions (difference [95% interval]; * = the "
            "interval excludes 0)", header, rows)


def consistency_table(results: RunResults) -> Table:
    """For each pair of models, whether one is above the other in every seed."""
    seeds = results.seeds
    compared = compared_columns()
    header = ["models (A vs B)"] + [column_title(g, n) for g, n in compared]
    rows = []
    labels = results.labels
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            row = [f"{a} vs {b}"]
            for group, name in compared:
                pairs = [(_of(results, a, s).value(group, name), _of(results, b, s).value(group, name)) for s in seeds]
                if any(x is None or y is None for x, y in pairs):
                    row.append("n/c")
                    continue
                above = sum(x > y for x, y in pairs)
                below = sum(x < y for x, y in pairs)
                mean = statistics.fmean(x - y for x, y in pairs)
                if above == len(seeds):
                    row.append(f"A higher in every seed (Δ {_number(mean)})")
                elif below == len(seeds):
                    row.append(f"A lower in every seed (Δ {_number(mean)})")
                else:
                    row.append(f"mixed: higher {above}, lower {below}, equal {len(seeds) - above - below}")
            rows.append(row)
    return (f"Which differences hold in every seed ({len(seeds)} seeds)", header, rows)


def continual_table(results: RunResults) -> Table:
    rows = results.continual
    names = [k for k in rows[0] if k not in ("method", "request", "seed") and not k.endswith("_interval")]
    seeded = "seed" in rows[0]
    header = ["method", *(["seed"] if seeded else []), "request", *names]
    body = [[r["method"], *([str(r["seed"])] if seeded else []), str(r["request"])]
            + [cell(r[k], r.get(f"{k}_interval")) for k in names] for r in rows]
    return "Continual: after each forget request", header, body


def _rows(models: list[ModelResult], columns: list[tuple[str, str]], with_seed: bool = False) -> list[list[str]]:
    return [[model_name(m, [None, None] if with_seed else [m.seed])]
            + [cell(m.value(g, n), m.interval(g, n)) for g, n in columns]
            + [cell(m.train.get("train_seconds")), inference_cell(m)] for m in models]


def inference_cell(model: ModelResult) -> str:
    """What answering costs: a method's own statement (``train_summary.json``), else one model."""
    return model.train.get("inference_cost") or ONE_MODEL


def model_name(model: ModelResult, seeds: list) -> str:
    return f"{model.label} (seed {model.seed})" if len(seeds) > 1 and model.seed is not None else model.label


def _of(results: RunResults, label: str, seed) -> ModelResult:
    return next(m for m in results.models if m.label == label and m.seed == seed)


def _number(value) -> str:
    if isinstance(value, float) and value != 0 and abs(value) < 1e-2:
        return f"{value:.3g}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
