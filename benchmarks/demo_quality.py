"""The demo over several training seeds: what it shows, and what held in every seed.

Runs the demo experiment (`unlearn demo`'s settings) once per seed, plus IDK+GD, which the seed
paper compares IDK+AP with (finished steps of ``--out`` are reused), then checks in each seed:

- the demo discriminates: the target's forget quality is below 0.05 and ME+GD's and IDK+AP's
  are clearly above it (at least 100x the target's: two decades on the report's log axis);
  every method's forget fact accuracy is below the target's beyond the paired interval;
- seed paper, finding 1: ME+GD forgets (forget fact accuracy <= 0.2) while keeping utility
  (model utility >= 0.9x the target's) and fluent answers (forget token entropy >= 0.8x);
- seed paper, finding 2: IDK+AP keeps retain answers better than IDK+GD (retain ROUGE-L and
  model utility at least IDK+GD's).

It writes per-seed values, mean and spread, and each check's count of seeds in which it held.

    python benchmarks/demo_quality.py --out runs/demo-seeds --seeds 0 1 2 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks_common import cell, update_section

SECTION = "## Demo quality over seeds"
SHOWN = [("forget", "fact_accuracy"), ("forget", "rougeL_recall"), ("forget", "token_entropy"),
         ("retain", "fact_accuracy"), ("retain", "rougeL_recall"), ("overall", "model_utility_tofu"),
         ("overall", "forget_quality")]


def checks(models: dict, paired) -> list[tuple[str, bool]]:
    """``(check, held)`` for one seed; ``models`` maps a label to its ModelResult."""
    def value(label, group, name):
        return models[label].value(group, name)

    target_quality = value("target", "overall", "forget_quality")
    found = [("target forget quality < 0.05", target_quality < 0.05)]
    for label in ("ME+GD", "IDK+AP"):
        quality = value(label, "overall", "forget_quality")
        found.append((f"{label} forget quality >= 100x the target's", quality >= 100 * target_quality))
    for label in [m for m in models if models[m].role == "method"]:
        difference = paired(models[label], models["target"], "forget", "fact_accuracy")
        found.append((f"{label} forget fact accuracy below the target's beyond the paired interval",
                      difference is not None and difference[1] is not None and difference[1][1] < 0))
    utility = value("target", "overall", "model_utility_tofu")
    found += [
        ("finding 1: ME+GD forget fact accuracy <= 0.2", value("ME+GD", "forget", "fact_accuracy") <= 0.2),
        ("finding 1: ME+GD model utility >= 0.9x the target's",
         value("ME+GD", "overall", "model_utility_tofu") >= 0.9 * utility),
        ("finding 1: ME+GD forget token entropy >= 0.8x the target's",
         value("ME+GD", "forget", "token_entropy") >= 0.8 * value("target", "forget", "token_entropy")),
        ("finding 2: IDK+AP retain ROUGE-L >= IDK+GD's",
         value("IDK+AP", "retain", "rougeL_recall") >= value("IDK+GD", "retain", "rougeL_recall")),
        ("finding 2: IDK+AP model utility >= IDK+GD's",
         value("IDK+AP", "overall", "model_utility_tofu") >= value("IDK+GD", "overall", "model_utility_tofu")),
    ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo-seeds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="as given to 'unlearn demo' (default: torch's)")
    parser.add_argument("--write", default="BENCHMARKS.md")
    args = parser.parse_args()
    from unlearn.evaluation.compare import paired_difference
    from unlearn.report.collect import INTERVALS, read_run
    from unlearn.report.tables import cell as interval_cell
    from unlearn.report.tables import compared_columns
    from unlearn.scenarios.demo import demo_settings
    from unlearn.scenarios.experiment import MethodEntry
    from unlearn.scenarios.runner import run_experiment

    compared = compared_columns()  # the report's paired columns, from the metric registry
    settings = demo_settings(args.out, threads=args.threads)
    settings = settings.model_copy(update={"seeds": args.seeds,
                                           "methods": [*settings.methods, MethodEntry(method="IDK+GD")]})
    began = time.time()
    run_experiment(settings, "demo + IDK+GD")
    minutes = (time.time() - began) / 60
    results = read_run(args.out)

    def paired(a, b, group, name):
        return paired_difference(a.splits, b.splits, group, name, INTERVALS)

    per_seed = {seed: {m.label: m for m in results.of_seed(seed)} for seed in args.seeds}
    outcomes = {seed: checks(models, paired) for seed, models in per_seed.items()}
    labels = results.labels
    header = ["model", "seed"] + [f"{g} {n}" for g, n in SHOWN]
    rows = [[label, str(seed)] + [interval_cell(per_seed[seed][label].value(g, n), per_seed[seed][label].interval(g, n))
                                  for g, n in SHOWN] for label in labels for seed in args.seeds]
    differences = []
    for seed in args.seeds:
        for label in labels:
            model = per_seed[seed][label]
            if model.role != "method":
                continue
            found = [paired(model, per_seed[seed]["target"], g, n) for g, n in compared]
            differences.append([label, str(seed)] + ["n/c" if f is None else interval_cell(*f) for f in found])
    spread = []
    for label in labels:
        values = [[per_seed[s][label].value(g, n) for s in args.seeds] for g, n in SHOWN]
        spread.append([label] + [f"{cell(statistics.fmean(v))} ± {cell(statistics.stdev(v))}"
                                 if len(v) > 1 and None not in v else "n/c" for v in values])
    check_rows = []
    for index, (name, _) in enumerate(outcomes[args.seeds[0]]):
        held = sum(outcomes[s][index][1] for s in args.seeds)
        verdict = {len(args.seeds): "held in every seed", 0: "**held in no seed**"}.get(held, "**not in every seed**")
        check_rows.append(f"| {name} | {held} of {len(args.seeds)} | {verdict} |")
    target = per_seed[args.seeds[0]]["target"]
    unlearn = ", ".join(f"{k} {v}" for k, v in settings.unlearn.items())
    world = settings.scenario_settings
    text = "\n".join([
        SECTION, "",
        f"`python benchmarks/demo_quality.py --out {args.out} --seeds {' '.join(map(str, args.seeds))}"
        f"{f' --threads {args.threads}' if args.threads else ''}`: the demo experiment (`unlearn demo`: "
        f"{world.people} people x {world.qa_per_person} facts, {settings.forget} / {settings.retain}, "
        f"SmolLM2-135M-Instruct, fp32 CPU; unlearning: {unlearn}, ME+GD at lr 5e-4; utility splits cut to "
        f"{world.utility_records} records) plus IDK+GD, once per training seed (fine-tuning and unlearning); "
        f"`configs/experiment_fictitious.yaml` is the same experiment. {minutes:.0f} minutes on this machine for "
        f"the steps not already in `{args.out}`.", "",
        "Records per evaluated split: " + ", ".join(f"{role} {len(rows_)}" for role, rows_ in target.splits.items())
        + ".", "",
        "Mean ± standard deviation over the seeds:", "",
        "| " + " | ".join(["model"] + header[2:]) + " |", "|" + "---|" * (len(header) - 1),
        *["| " + " | ".join(r) + " |" for r in spread], "",
        "| check | seeds where it held | |", "|---|---|---|", *check_rows, "",
        "Each method minus the target, paired on the same questions (difference [95% interval]):", "",
        "| " + " | ".join(["model", "seed"] + [f"Δ {g} {n}" for g, n in compared]) + " |",
        "|" + "---|" * (len(compared) + 2), *["| " + " | ".join(r) + " |" for r in differences], "",
        "Per seed (value [95% interval]):", "",
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *["| " + " | ".join(r) + " |" for r in rows], ""])
    print(text)
    update_section(Path(args.write), text, SECTION)


if __name__ == "__main__":
    main()
