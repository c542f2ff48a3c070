"""Recovery of each unlearning method under every attack of ``unlearn attack``.

Runs ``configs/experiment_robustness.yaml`` (the demo's target and retain models, GA+GD, NPO+GD,
ME+GD, IDK+AP and RMU, then ``attacks: [all]`` on each; finished steps of ``--out`` are reused)
and writes, per method and attack, the recovery of forget fact accuracy and of the answer's
probability with their paired 95% intervals, and each method's worst case.

All five methods' attacks take longer than one sitting on 2 cores (about 45 min per method), so
``--methods`` runs some of them, and each finished method's attack summary is kept under
``benchmarks/results/robustness/`` with the machine and date it was measured on; the table is
built from those files. A method stopped part way goes on from its finished attacks when run
again (the experiment's attack step resumes ``unlearn attack`` from its ``attack_parts.json``).
``--table-only`` rewrites the table from them without running anything; ``--keep-finished`` first
keeps the methods a stopped run already finished; ``--rescore`` rewrites the kept summaries whose
attack folders are still in ``--out`` with recovery as the code now defines it (``unlearn attack
--rescore``: no attack runs again).

    python benchmarks/robustness.py --out runs/robustness [--methods NPO+GD,RMU]
    python benchmarks/robustness.py --out runs/robustness --tuned     # the methods tuned_demo.py tuned
    python benchmarks/robustness.py --out runs/robustness --tuned --methods RMU-adaptive
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks_common import cell, measured_record, update_section
from tuning_common import kept_choices, kept_runs, tuned_entry

from unlearn.attacks.recovery import FACT_METRICS, RECOVERY_VERSION
from unlearn.attacks.summary import WITH_CONTROL

SECTION = "## Robustness: recovery under attack"
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "experiment_robustness.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "robustness"
METHODS = ("GA+GD", "NPO+GD", "ME+GD", "IDK+AP", "RMU")
SHOWN = ("fact_accuracy", "probability")


def coverage(found: dict) -> str:
    """Which of the five methods have a row at tuned settings, which only at the demo's, which none."""
    tuned = [m for m in METHODS if f"{m} tuned" in found]
    demo_only = [m for m in METHODS if m in found and m not in tuned]
    missing = [m for m in METHODS if m not in found and m not in tuned]
    if len(tuned) == len(METHODS):
        return f"all {len(METHODS)} methods at tuned settings"
    parts = [f"at tuned settings: {', '.join(tuned) or 'none'}",
             *([f"at the demo's settings only: {', '.join(demo_only)}"] if demo_only else []),
             *([f"not measured: {', '.join(missing)}"] if missing else [])]
    return f"PARTIAL ({'; '.join(parts)})"


def attack_folders(out: Path) -> dict[str, Path]:
    """Method label -> its attack step's folder, for every attack step of ``out`` that finished."""
    return {json.loads(done.read_text())["step"].removeprefix("attack-"): done.parent
            for done in sorted((out / "steps").glob("attack-*/step_done.json"))}


def finished_attacks(out: Path) -> dict[str, dict]:
    """Method label -> its attack summary, for every attack step of ``out`` that finished."""
    return {label: json.loads((folder / "attack_summary.json").read_text())
            for label, folder in attack_folders(out).items()}


def rescore_kept(out: Path) -> None:
    """Rewrite each kept summary whose attack folder is in ``out`` with recovery as defined now; when and
    where the attacks ran is kept, the rescoring date added."""
    from datetime import date

    from unlearn.attacks.run import rescore_attacks

    for label, folder in attack_folders(out).items():
        path = result_file(label)
        if path.is_file():
            measured = {**json.loads(path.read_text())["measured"], "rescored": date.today().isoformat()}
            path.write_text(json.dumps({"method": label, "measured": measured, **rescore_attacks(folder)},
                                       indent=1) + "\n")


def result_file(label: str) -> Path:
    return RESULTS / (label.replace("+", "_").replace(" ", "_") + ".json")


def keep_results(found: dict[str, dict], seconds: float | None, threads: int = 2) -> None:
    """Store each finished method's summary with where and when it was measured."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    measured = measured_record(threads, seconds)
    for label, summary in found.items():
        result_file(label).write_text(json.dumps({"method": label, "measured": measured, **summary}, indent=1) + "\n")


def kept_results() -> dict[str, dict]:
    """Kept summaries measured against a control model, the shipped methods first, then the tuned ones; older
    ones (recovery against the unattacked floor) count as still to run, since their recoveries mean something
    else."""
    kept = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]
    order = {m: i for i, m in enumerate(METHODS)}
    kept.sort(key=lambda r: (order.get(r["method"], len(order)), r["method"]))
    return {r["method"]: r for r in kept if r.get("recovery_against") == WITH_CONTROL}



def recovery_cell(entry: dict | None) -> str:
    if not entry or entry.get("attacked") is None:
        return "n/c"
    interval = entry.get("interval")
    if entry.get("recovery") is None or not interval:  # no interval: a summary from before recovery version 4
        return f"n/c ({cell(entry['unlearned'])} -> {cell(entry['attacked'])})"
    return f"{entry['recovery']:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def score_cell(entry: dict | None) -> str:
    """``attacked (control attacked)``: the unlearned model's score under the attack beside the
    control's under the same attack, for metrics that also reward the answer's format."""
    if not entry or entry.get("attacked") is None:
        return "n/c"
    control = entry.get("control_attacked")
    return f"{cell(entry['attacked'])} ({cell(control)})" if control is not None else cell(entry["attacked"])


def control_row(found: dict[str, dict], labels: list[str], metric: str, shown: list[str]) -> str:
    """The control model's (retain model's) score under each attack, read from the first method that
    measured it (the control and the attacked questions are the same for every method)."""
    cells = []
    for name in shown:
        value = next((a["metrics"].get(metric, {}).get("control_attacked") for label in labels
                      for a in found[label]["attacks"] if a["name"] == name
                      and a["metrics"].get(metric, {}).get("control_attacked") is not None), None)
        cells.append(cell(value) if value is not None else "n/c")
    return "| control (retain model), its score | " + " | ".join(cells) + " |"


def tables(found: dict[str, dict]) -> list[str]:
    lines = []
    labels = list(found)
    names = list(dict.fromkeys(a["name"] for s in found.values() for a in s["attacks"]))
    for metric in (*SHOWN, "choice_accuracy", "fact_token_probability"):
        rows = [(label, {a["name"]: a["metrics"].get(metric) for a in found[label]["attacks"]}) for label in labels]
        shown = [n for n in names if any(row.get(n) for _, row in rows)]
        if not shown:
            continue
        fact_based = metric in FACT_METRICS
        title = (f"Recovery of forget `{metric}` beyond the control (95% paired interval):" if fact_based else
                 f"Forget `{metric}` under each attack: unlearned model (control model), then recovery beyond "
                 "the control (95% paired interval):")
        lines += [title, "", "| method | " + " | ".join(shown) + " |", "|---|" + "---|" * len(shown)]
        for label, row in rows:
            if fact_based:
                lines.append("| " + label + " | " + " | ".join(recovery_cell(row.get(n)) for n in shown) + " |")
            else:
                lines.append("| " + label + " | " + " | ".join(score_cell(row.get(n)) for n in shown) + " |")
                lines.append("| " + label + ", recovery | " + " | ".join(recovery_cell(row.get(n)) for n in shown)
                             + " |")
        lines += [control_row(found, labels, metric, shown), ""]
    lines += ["Worst case over attacks, chosen on one seeded half of the questions every attack measured and "
              "reported on the other (forget score without attack -> under the chosen attack, the control's score "
              "under it in parentheses, and the attack):", "",
              "| method | " + " | ".join(SHOWN) + " |", "|---|" + "---|" * len(SHOWN)]
    for label in labels:
        robust = found[label]["robust"]
        cells = []
        for m in SHOWN:
            r = robust.get(m) or {}
            if r.get("value") is None:
                cells.append(f"n/c ({r['not_computed']})" if r.get("not_computed") else "n/c")
                continue
            control = f" ({cell(r['control'])})" if r.get("control") is not None else ""
            cells.append(f"{cell(r['unlearned'])} -> {cell(r['value'])}{control} ({r['attack']}, "
                         f"{r.get('questions_reported_on', '?')} q)")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def tuned_entries(labels: list[str] | None = None) -> list[dict]:
    """Each method ``tuned_demo.py`` tuned (those of ``labels`` when given), at its chosen trial's settings
    (labelled "METHOD tuned")."""
    kept = ROOT / "benchmarks" / "results" / "tuned_demo.json"
    if not kept.is_file():
        raise SystemExit(f"--tuned: {kept} is missing; run benchmarks/tuned_demo.py first")
    from tuned_demo import EXTRA_ENTRIES

    listed = {entry["label"]: entry for entry in EXTRA_ENTRIES}  # tuned_entry relabels it "LABEL tuned"
    chosen = {label: tuned["params"] for label, (_, tuned) in kept_choices(kept_runs(kept)).items()}
    unknown = set(labels or []) - set(chosen)
    if unknown:
        raise SystemExit(f"--methods: {', '.join(sorted(unknown))} not tuned in {kept.name} "
                         f"(tuned: {', '.join(chosen)})")
    return [tuned_entry(listed.get(label, {"method": label}), params, label)
            for label, params in chosen.items() if labels is None or label in labels]


def chosen_config(methods: list[str]) -> dict:
    """The experiment file with only ``methods`` (labels as in METHODS); step keys are unchanged,
    so a later run with other methods reuses the target, retain and data steps."""
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    label = lambda entry: entry if isinstance(entry, str) else entry["method"]  # noqa: E731
    unknown = set(methods) - {label(e) for e in config["methods"]}
    if unknown:
        raise SystemExit(f"--methods: unknown {', '.join(sorted(unknown))} (known: {', '.join(METHODS)})")
    config["methods"] = [e for e in config["methods"] if label(e) in methods]
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/robustness")
    parser.add_argument("--methods", help=f"comma-separated labels to run (default: {','.join(METHODS)}; with "
                                           "--tuned, every method tuned_demo.py tuned)")
    parser.add_argument("--table-only", action="store_true", help="rewrite the table from the kept results")
    parser.add_argument("--tuned", action="store_true", help="run the methods tuned_demo.py tuned, at its chosen "
                                                              "settings (those of --methods when given)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (not part of any step's key)")
    parser.add_argument("--rescore", action="store_true",
                        help="rewrite the kept summaries whose attack folders are in --out with recovery as defined "
                             "now (no attack runs again), then rewrite the table")
    parser.add_argument("--keep-finished", action="store_true",
                        help="keep the attack summaries already finished in --out (a run stopped midway: its "
                             "finished methods, without a run time), then rewrite the table")
    args = parser.parse_args()
    out = Path(args.out)
    if args.rescore:
        rescore_kept(out)
    elif args.keep_finished:
        keep_results({label: summary for label, summary in finished_attacks(out).items()
                      if summary.get("recovery_against") == WITH_CONTROL}, None)
    elif not args.table_only:
        import unlearn

        began = time.time()
        listed = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
        if args.tuned:
            config = {**chosen_config([]), "methods": tuned_entries(listed)}
            methods = [entry["label"] for entry in config["methods"]]
        else:
            methods = listed or list(METHODS)
            config = chosen_config(methods)
        unlearn.run({**config, "threads": args.threads}, out=str(out))
        ran = {label: summary for label, summary in finished_attacks(out).items() if label in methods}
        keep_results(ran, time.time() - began, args.threads)
    found = kept_results()
    status = coverage(found)
    where = "; ".join(f"{label}: {r['measured']['date']}, {r['measured']['cpu']}, "
                      + (f"run {r['measured']['run_seconds']} s" if r['measured']['run_seconds'] is not None
                         else "run time not recorded (kept from a stopped run)")
                      + (f", rescored {r['measured']['rescored']}" if r['measured'].get('rescored') else "")
                      for label, r in found.items())
    older = [label for label, r in found.items() if r.get("recovery_version", 3) < RECOVERY_VERSION]
    older_note = (f" {', '.join(older)}: summaries from before recovery's version {RECOVERY_VERSION} (their attack "
                  "folders are gone, so they cannot be rescored): their recoveries without an interval are shown as "
                  "n/c, but a recovery whose knowledge gap's interval reaches below 0.05 may still show a number; "
                  "rerun the method to measure it under the present rule." if older else "")
    section = "\n".join([
        SECTION, "",
        "`python benchmarks/robustness.py --out runs/robustness --methods LIST`: `configs/experiment_robustness.yaml` "
        "(the demo's target and retain models: 20 invented people x 2 facts, forget50 / retain50, "
        "SmolLM2-135M-Instruct, fp32, 2 CPU threads; each method unlearned with the demo's settings), then "
        "`unlearn attack --attacks all` with its defaults on each unlearned model, against the target and with the "
        "retain model (never trained on the forget set) as the control, every attack run on both; one seed. "
        "Rows 'METHOD tuned' (`--tuned`): the method at the settings `benchmarks/tuned_demo.py` chose on other "
        "invented people (section 'Tuned methods on the demo'). "
        f"Status: {status}. Measured (run time includes any steps it had to train first): {where or 'nothing yet'}. "
        "Recovery is knowledge beyond what the same attack gives the control: (E(attacked, control attacked) - "
        "E(unlearned, control)) / (E(original, control attacked) - E(unlearned, control)), E(x, y) = max(x - y, 0); "
        "0 = the attack gives the unlearned model nothing the control does not also get (a learned answer template "
        "scores 0), 1 = as far above the control as the original. Fact-based metrics are the headline; the answer's "
        "probability also rewards its format, so its scores are shown beside the control's. Relearning attacks "
        "measure only their held-out questions; n/c = unlearning changed the metric by less than 0.05 beyond the "
        "control, or the lower end of that gap's paired 95% interval is below 0.05 (a ratio over a gap that cannot be "
        "told from none; the scores are shown). The stored summaries are in `benchmarks/results/robustness/`."
        f"{older_note}", "",
        *tables(found)])
    update_section(ROOT / "BENCHMARKS.md", section, SECTION)
    print(section)


if __name__ == "__main__":
    main()
