"""Unlearning settings on the demo: which learning rate, epochs and weights forget the facts and keep the rest.

Runs the demo experiment (reusing the finished steps of ``--out``: data, target, retain model,
their evaluations) with one method entry per variant below, each with its own overrides, and
prints per variant: forget fact accuracy, forget ROUGE-L, forget token entropy, retain fact
accuracy, real-authors / world-facts ROUGE-L, and model utility against the target's. The checks
the demo's settings must pass are those of ``benchmarks/demo_quality.py``.

    python benchmarks/demo_sweep.py --out runs/demo --threads 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks_common import cell, ratio, update_section

SECTION = "## Demo: unlearning settings sweep"

# (method, label, overrides of the demo's unlearning settings). Every variant names its learning
# rate, so the table does not change meaning when the demo's default does.
VARIANTS = [
    ("ME+GD", "lr3e-4", {"learning_rate": 3e-4}),
    ("ME+GD", "lr5e-4", {"learning_rate": 5e-4}),
    ("IDK+AP", "lr3e-4", {"learning_rate": 3e-4}),
]
COLUMNS = [("overall", "forget_quality"), ("forget", "fact_accuracy"), ("forget", "rougeL_recall"),
           ("forget", "token_entropy"),
           ("retain", "fact_accuracy"), ("real_authors", "rougeL_recall"), ("world_facts", "rougeL_recall"),
           ("overall", "model_utility_tofu")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--write", default="BENCHMARKS.md")
    args = parser.parse_args()
    from unlearn.report.collect import read_run
    from unlearn.scenarios.demo import demo_settings
    from unlearn.scenarios.experiment import MethodEntry
    from unlearn.scenarios.runner import run_experiment

    settings = demo_settings(args.out, threads=args.threads)
    settings.methods = [MethodEntry(method=method, label=f"{method} {label}", settings=overrides)
                        for method, label, overrides in VARIANTS]
    run_experiment(settings, "demo settings sweep")
    models = {m.label: m for m in read_run(args.out).models}
    target = models["target"]
    header = ["model"] + [f"{group} {name}" for group, name in COLUMNS] + ["utility / target's"]
    lines = [SECTION, "", f"`python benchmarks/demo_sweep.py --out {args.out} --threads {args.threads}`: the demo "
             "(target, retain model and evaluations as in `unlearn demo`) with each method under the variant's "
             "overrides of the demo's unlearning settings ("
             + ", ".join(f"{k} {v}" for k, v in settings.unlearn.items()) + "; ME+GD a 0.1, b 1).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    target_utility = target.value("overall", "model_utility_tofu")
    for label, model in models.items():
        values = [model.value(group, name) for group, name in COLUMNS]
        lines.append(f"| {label} | " + " | ".join(cell(v) for v in [*values, ratio(values[-1], target_utility)]) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    update_section(Path(args.write), table, SECTION)

if __name__ == "__main__":
    main()
