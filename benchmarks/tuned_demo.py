"""A method tuned by ``unlearn tune`` on validation data, then measured on the demo over training seeds.

Issue 29's test of tuning: does the search find settings at which a method forgets (forget fact accuracy
below the target's beyond the paired interval) while keeping utility (model utility >= 0.9x the
target's), in every seed, on data it did not search on?

1. Validation: the demo experiment on another draw of invented people (``data_seed`` V, same sizes), its
   method entries with a ``tune:`` section (objectives forget.fact_accuracy:minimize and
   model_utility_tofu:maximize, the default space, the utility-floor rule at 0.9x the target's, trials
   pruned when their curve's utility falls below 0.5x the target's). Nothing of the reported data is seen.
2. Report: the demo experiment itself (data seed 0), each method at the chosen trial's settings, over
   the training seeds; the checks per seed.

Steps are cached in ``--out``, so a stopped run resumes. Results go to ``--out/summary.json`` and
``benchmarks/results/tuned_demo.json`` (kept: the section is built from it) and, with ``--write``, to a
section of BENCHMARKS.md. The search's cost is the trials' own recorded seconds (training
plus evaluation), not the wall time of this script, which a resumed run would undercount.

    python benchmarks/tuned_demo.py --out runs/tuned-demo --methods GA+GD --trials 8 --seeds 0 1 2 --threads 2
    python benchmarks/tuned_demo.py --out runs/tuned-demo --methods IDK+AP --trials 8 --trial-seeds 0 1 2
    python benchmarks/tuned_demo.py --out runs/tuned-demo --methods RMU-adaptive --trials 8 --recheck-seeds 1 2
    python benchmarks/tuned_demo.py --table-only --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks_common import measured_record, update_section
from tuning_common import (DEFAULT_TRIALS, chosen_settings, kept_choices, kept_runs, search_cost, shown_params,
                           shown_path, shown_space, tuned_experiment, validation_experiment, with_entries, with_run)

ROOT = Path(__file__).resolve().parent.parent
KEPT = ROOT / "benchmarks" / "results" / "tuned_demo.json"  # the last measured run, which the section shows
SECTION = "## Tuned methods on the demo"
RERUN_KEPT = ROOT / "benchmarks" / "results" / "tuned_demo_rerun.json"  # --rerun-kept: the choices on other machines
RERUN_SECTION = "## The tuned demo measured again on another machine"
OBJECTIVES = ["forget.fact_accuracy:minimize", "model_utility_tofu:maximize"]
CURVE = {"every_epoch": True, "at_start": False, "examples": 12}  # for pruning collapsed trials only
# the demo's unlearn section sets the learning rate and epochs, which fixes them in tune's default space (a
# setting given is not searched): search them explicitly, from 100x below the demo's rate up to it
SPACE = {"learning_rate": {"low": 3.0e-6, "high": 3.0e-4, "log": True}, "epochs": {"low": 1, "high": 5}}
# methods the demo does not list, tuned as entries of their own. RMU with a fixed c searched around 6.5 moves
# nothing here (this model's layer-7 activations have norms of 125-160): adaptive RMU scales c to them (c = beta x
# the frozen model's mean norm, Dang et al. 2024), at a constant rate without warm-up as WMDP's RMU runs. A first
# study over lr 1e-5 to 1e-3 with the demo's warm-up, 5-50 steps and retain weights 3-3000 found it inert; on the
# same validation draw a rate near 7e-4 over 50 steps at retain weight 5 forgets, and a weight of 1 at 1e-3
# collapses the model: the space spans that region
EXTRA_ENTRIES = [{"method": "RMU", "label": "RMU-adaptive", "warmup_epochs": 0, "lr_schedule": "constant",
                  "method_args": {"RMU": {"adaptive_beta": 2.0}}}]
METHOD_SPACE = {"RMU-adaptive": {"learning_rate": {"low": 2.0e-4, "high": 2.0e-3, "log": True},
                                 "epochs": {"low": 4, "high": 10},
                                 "rmu.adaptive_beta": {"low": 1.0, "high": 4.0, "log": True}, "rmu.steering": None,
                                 "regularizer_weight": {"low": 1.0, "high": 30.0, "log": True}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tuned-demo")
    parser.add_argument("--methods", nargs="+", default=["GA+GD"])
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--validation-data-seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--trial-seeds", type=int, nargs="+", default=None,
                        help="each trial unlearns once per training seed and counts its worst (unlearn tune "
                             "--trial-seeds): for a method whose chosen setting held on one seed only")
    parser.add_argument("--recheck-seeds", type=int, nargs="+", default=None,
                        help="the rule's choice runs again with these training seeds until it holds at its worst "
                             "(unlearn tune --recheck-seeds): seeds for a few runs more")
    parser.add_argument("--rerun-kept", action="store_true",
                        help="tune nothing: run the demo at the settings the kept runs chose for --methods, over "
                             "--seeds, kept apart (tuned_demo_rerun.json): the claim measured on this machine")
    parser.add_argument("--table-only", action="store_true", help="print (and --write) the kept results")
    parser.add_argument("--write", default="", help="BENCHMARKS.md to update its section (default: print only)")
    args = parser.parse_args()
    out = Path(args.out)
    runs = kept_runs(KEPT)
    if args.rerun_kept and not args.table_only:
        rerun(out, args.methods, args.seeds, args.threads, runs)
    elif not args.table_only:
        command = (f"python benchmarks/tuned_demo.py --out {shown_path(out, ROOT)} --methods {' '.join(args.methods)} "
                   f"--trials {args.trials} --seeds {' '.join(map(str, args.seeds))}"
                   + (f" --threads {args.threads}" if args.threads else "")
                   + (f" --trial-seeds {' '.join(map(str, args.trial_seeds))}" if args.trial_seeds else "")
                   + (f" --recheck-seeds {' '.join(map(str, args.recheck_seeds))}" if args.recheck_seeds else ""))
        seeded = {**({"trial_seeds": args.trial_seeds} if args.trial_seeds else {}),
                  **({"recheck_seeds": args.recheck_seeds} if args.recheck_seeds else {})}
        record = {"command": command, "validation_data_seed": args.validation_data_seed, **seeded,
                  **measure(out, args.methods, args.trials, args.seeds, args.validation_data_seed, args.threads,
                            seeded)}
        (out / "summary.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        runs = with_run(runs, record)
        KEPT.write_text(json.dumps({"runs": runs}, indent=2) + "\n", encoding="utf-8")
    text, again = section(runs), rerun_section(kept_runs(RERUN_KEPT))
    print(text + "\n" + again)
    if args.write:
        update_section(Path(args.write), text, SECTION)
        update_section(Path(args.write), again, RERUN_SECTION)


def rerun(out: Path, methods: list[str], seeds: list[int], threads: int | None, runs: list[dict]) -> None:
    """The demo at the settings the kept runs chose for ``methods``, over ``seeds``, on this machine; nothing is
    tuned again. Kept apart (``RERUN_KEPT``): the kept claim measured again where the floats differ."""
    chosen = kept_choices(runs)
    missing = [m for m in methods if m not in chosen]
    if missing:
        raise SystemExit(f"--rerun-kept: no kept choice for {', '.join(missing)} in {KEPT.name}")
    began = time.time()
    measured = report(out, with_entries(demo(threads), EXTRA_ENTRIES), {m: chosen[m][1] for m in methods}, seeds)
    command = (f"python benchmarks/tuned_demo.py --rerun-kept --out {shown_path(out, ROOT)} --methods "
               f"{' '.join(methods)} --seeds {' '.join(map(str, seeds))}"
               + (f" --threads {threads}" if threads else ""))
    record = {"command": command, "tuned_by": {m: chosen[m][0]["command"] for m in methods},
              "measured": measured_record(threads or 2, time.time() - began), **measured}
    RERUN_KEPT.write_text(json.dumps({"runs": with_run(kept_runs(RERUN_KEPT), record)}, indent=2) + "\n",
                          encoding="utf-8")


def measure(out: Path, methods: list[str], trials: int, seeds: list[int], data_seed: int, threads: int | None,
            seeded: dict | None = None):
    """Tune on the validation draw (``seeded``: tune's ``trial_seeds`` or ``recheck_seeds`` when given), run the
    demo at the chosen settings over ``seeds``, check each seed."""
    from unlearn.scenarios.runner import run_experiment

    settings = with_entries(demo(threads), EXTRA_ENTRIES)
    tune = {"trials": trials, "objectives": OBJECTIVES, "prune_floor": 0.5, "space": SPACE, **(seeded or {})}
    validation = validation_experiment(settings, out / "validation", methods, data_seed, tune,
                                       unlearn={"curve": CURVE}, spaces=METHOD_SPACE)
    _, steps = run_experiment(validation, "validation: tune on other invented people")
    return report(out, settings, {m: chosen_settings(out / "validation", m, steps) for m in methods}, seeds)


def demo(threads: int | None):
    """The demo experiment's settings (imported here, as every heavy import, so --table-only stays light)."""
    from unlearn.scenarios.demo import demo_settings

    return demo_settings(threads=threads)


def report(out: Path, settings, tuned: dict[str, dict], seeds: list[int]) -> dict:
    """The demo (``settings``) at each method's chosen settings (``tuned``) over ``seeds``, and both checks per
    seed: forgets (the paired interval of the difference from the target below 0) and keeps >= 0.9x utility."""
    from unlearn.evaluation.compare import paired_difference
    from unlearn.report.collect import INTERVALS, read_run
    from unlearn.scenarios.runner import run_experiment

    run_experiment(tuned_experiment(settings, out / "report", tuned, seeds), "report: the demo at the tuned settings")
    results = read_run(out / "report")
    rows, held = [], {}
    for seed in seeds:
        models = {m.label: m for m in results.of_seed(seed)}
        target = models["target"]
        utility = target.value("overall", "model_utility_tofu")
        for label, model in models.items():
            if model.role != "method":
                continue
            difference = paired_difference(model.splits, target.splits, "forget", "fact_accuracy", INTERVALS)
            forgets = difference is not None and difference[1] is not None and difference[1][1] < 0
            ratio = model.value("overall", "model_utility_tofu") / utility if utility else None
            keeps = ratio is not None and ratio >= 0.9
            held.setdefault(label, []).append(forgets and keeps)
            rows.append({"seed": seed, "model": label,
                         "forget_fact_accuracy": model.value("forget", "fact_accuracy"),
                         "target_forget_fact_accuracy": target.value("forget", "fact_accuracy"),
                         "difference": difference[0] if difference else None,
                         "difference_interval": difference[1] if difference else None,
                         "model_utility": model.value("overall", "model_utility_tofu"),
                         "target_model_utility": utility, "utility_ratio": ratio,
                         "forgets": forgets, "keeps_utility": keeps})
    return {"tuned": tuned, "rows": rows, "held": held}


def section(runs: list[dict]) -> str:
    """BENCHMARKS.md's section from the kept runs, each method from the last run that tuned it."""
    own_spaces = "".join(f"; {label} over {shown_space(space)}" for label, space in METHOD_SPACE.items())
    lines = [SECTION, "",
             "Each method tuned by `unlearn tune` on the demo's benchmark drawn with another data seed (other invented "
             f"people, their own target and retain model; objectives {', '.join(OBJECTIVES)}; space "
             f"{shown_space(SPACE)}{own_spaces} and the method's other default dimensions (the regularizer weight, a "
             "method's own knobs); utility-floor rule at "
             "0.9x the target's; pruning at 0.5x), then the demo (data seed 0) unlearned at the chosen settings per "
             "training seed. Forgets: the paired 95% interval of the difference in forget fact accuracy from the "
             "target lies below 0."]
    if EXTRA_ENTRIES:
        lines[-1] += " Entries the demo does not list: " + "; ".join(
            f"{e['label']} ({shown_entry(e)})" for e in EXTRA_ENTRIES) + "."
    for run in runs:
        lines += ["", *run_lines(run)]
    return "\n".join(lines) + "\n"


def shown_entry(entry: dict) -> str:
    """An entry's method and settings in words: ``RMU, method_args {'RMU': {'adaptive_beta': 2.0}}``."""
    return ", ".join([entry["method"], *(f"{k} {v}" for k, v in entry.items() if k not in ("method", "label"))])


def run_lines(record: dict) -> list[str]:
    """One run: its command, how each method was chosen, then its results."""
    lines = [f"`{record['command']}` (validation data seed {record['validation_data_seed']}):", ""]
    for method, chosen in record["tuned"].items():
        lines.append(f"- {method}: {search_cost(chosen)}; chosen trial {chosen['trial']}: "
                     f"{shown_params(chosen['params'])} ({chosen['reason']})")
    return lines + ["", *result_lines(record)]


def rerun_section(runs: list[dict]) -> str:
    """BENCHMARKS.md's section of ``--rerun-kept``: the kept choices measured again on other machines."""
    lines = [RERUN_SECTION, "",
             "`python benchmarks/tuned_demo.py --rerun-kept --methods ...` runs the demo at the settings the section "
             "above chose, tuning nothing, on the machine it runs on: a trained model's numbers differ between CPUs, "
             "so a tuned claim holds only where it holds again. The checks are the section above's."]
    if not runs:
        lines += ["", "Not measured yet."]
    for run in runs:
        measured = run["measured"]
        lines += ["", f"`{run['command']}`, measured {measured['date']} on {measured['cpu']}, {measured['threads']} "
                      f"threads, {measured['run_seconds']} s:", ""]
        lines += [f"- {method}: {shown_params(chosen['params'])}, chosen by `{run['tuned_by'][method]}`"
                  for method, chosen in run["tuned"].items()]
        lines += ["", *result_lines(run)]
    return "\n".join(lines) + "\n"


def result_lines(record: dict) -> list[str]:
    """A run's table per seed and how often both checks held."""
    lines = ["| seed | model | forget fact acc. | target's | difference [95% interval] | model utility | x target's | "
             "forgets | keeps >= 0.9x |", "|---|---|---|---|---|---|---|---|---|"]
    for row in record["rows"]:
        interval = row["difference_interval"]
        lines.append(f"| {row['seed']} | {row['model']} | {row['forget_fact_accuracy']:.3f} | "
                     f"{row['target_forget_fact_accuracy']:.3f} | {row['difference']:.3f} "
                     f"[{interval[0]:.3f}, {interval[1]:.3f}] | {row['model_utility']:.3f} | "
                     f"{row['utility_ratio']:.2f} | {row['forgets']} | {row['keeps_utility']} |")
    lines += [""] + [f"- {label}: both held in {sum(v)} of {len(v)} seeds" for label, v in record["held"].items()]
    lines += [f"- {note}" for note in record.get("notes", [])]  # written into the kept file by hand, e.g. the load
    return lines


if __name__ == "__main__":
    main()
