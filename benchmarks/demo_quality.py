"""Quality of the demo's methods against the targets of the scenarios issue.

Runs the demo experiment (reusing the finished steps of ``--out``) plus IDK+GD, which IDK+AP is
compared with, then checks: ME+GD forgets (forget fact accuracy <= 0.1, target >= 0.8; forget
ROUGE-L well below the target's) and keeps the rest (model utility and retain fact accuracy
>= 0.9x the target's; forget-answer token entropy >= 0.8x the target's); IDK+AP's utility >=
IDK+GD's and its retain answers keep the fact instead of refusing.

    unlearn demo && python benchmarks/demo_quality.py --out runs/demo
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks_common import cell, ratio, update_section

SECTION = "## Demo quality targets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--threads", type=int, default=None, help="as given to 'unlearn demo' (default: torch's)")
    parser.add_argument("--write", default="BENCHMARKS.md")
    args = parser.parse_args()
    from unlearn.data.refusals import load_refusals
    from unlearn.metrics.text import refusal_rate
    from unlearn.report.collect import read_run
    from unlearn.scenarios.demo import demo_settings
    from unlearn.scenarios.experiment import MethodEntry
    from unlearn.scenarios.runner import run_experiment

    settings = demo_settings(args.out, threads=args.threads)
    settings.methods.append(MethodEntry(method="IDK+GD"))
    run_experiment(settings, "demo + IDK+GD")
    models = {m.label: m for m in read_run(args.out).models}
    refusals = load_refusals(None)

    def value(label, group, name):
        return models[label].value(group, name)

    def refusing(label):
        return refusal_rate([e["generation"] for e in models[label].splits["retain"]], refusals)

    target = "target"
    checks = [
        ("ME+GD forget fact accuracy", value("ME+GD", "forget", "fact_accuracy"), "<= 0.1",
         value("ME+GD", "forget", "fact_accuracy") <= 0.1),
        ("target forget fact accuracy", value(target, "forget", "fact_accuracy"), ">= 0.8",
         value(target, "forget", "fact_accuracy") >= 0.8),
        ("ME+GD forget ROUGE-L / target's", ratio(value("ME+GD", "forget", "rougeL_recall"),
                                                    value(target, "forget", "rougeL_recall")), "well below 1", None),
        ("ME+GD model utility / target's", ratio(value("ME+GD", "overall", "model_utility_tofu"),
                                                   value(target, "overall", "model_utility_tofu")), ">= 0.9", 0.9),
        ("ME+GD retain fact accuracy / target's", ratio(value("ME+GD", "retain", "fact_accuracy"),
                                                          value(target, "retain", "fact_accuracy")), ">= 0.9", 0.9),
        ("ME+GD forget token entropy / target's", ratio(value("ME+GD", "forget", "token_entropy"),
                                                          value(target, "forget", "token_entropy")), ">= 0.8", 0.8),
        ("IDK+AP model utility / IDK+GD's", ratio(value("IDK+AP", "overall", "model_utility_tofu"),
                                                    value("IDK+GD", "overall", "model_utility_tofu")), ">= 1", 1.0),
        ("IDK+AP retain fact accuracy", value("IDK+AP", "retain", "fact_accuracy"),
         f"vs IDK+GD {value('IDK+GD', 'retain', 'fact_accuracy'):.2f}", None),
        ("IDK+AP retain answers that refuse", refusing("IDK+AP"), f"vs IDK+GD {refusing('IDK+GD'):.2f}", None),
    ]
    rows = []
    for name, measured, goal, rule in checks:
        if isinstance(rule, float):
            rule = measured is not None and measured >= rule
        status = "n/a" if rule is None else ("met" if rule else "**missed**")
        rows.append(f"| {name} | {'n/c' if measured is None else f'{measured:.3f}'} | {goal} | {status} |")
    columns = ["model", "forget fact acc.", "forget ROUGE-L", "forget TE", "retain fact acc.", "model utility",
               "forget quality"]
    per_model = [f"| {label} | " + " | ".join(cell(m.value(g, n)) for g, n in (
        ("forget", "fact_accuracy"), ("forget", "rougeL_recall"), ("forget", "token_entropy"),
        ("retain", "fact_accuracy"), ("overall", "model_utility_tofu"), ("overall", "forget_quality"))) + " |"
        for label, m in models.items()]
    unlearn = ", ".join(f"{k} {v}" for k, v in settings.unlearn.items())
    table = "\n".join([
        SECTION, "",
        f"`python benchmarks/demo_quality.py --out {args.out}`: the demo experiment "
        f"(`unlearn demo`: {settings.people} people x {settings.qa_per_person} facts, forget10 = "
        f"{settings.people // 10} people, SmolLM2-135M-Instruct, fp32 CPU; unlearning: {unlearn}; "
        f"utility splits cut to {settings.utility_records} records) plus IDK+GD for comparison.", "",
        "Records per evaluated split: " + ", ".join(f"{role} {len(rows)}" for role, rows in models[target].splits.items())
        + " (one answer moves retain fact accuracy by " + f"{1 / len(models[target].splits['retain']):.2f}).", "",
        "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns), *per_model, "",
        "| check | measured | goal | |", "|---|---|---|---|", *rows, ""])
    print(table)
    update_section(Path(args.write), table, SECTION)


if __name__ == "__main__":
    main()
