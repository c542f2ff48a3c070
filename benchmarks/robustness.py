"""Recovery of each unlearning method under every attack of ``unlearn attack``.

Runs ``configs/experiment_robustness.yaml`` (the demo's target and retain models, GA+GD, NPO+GD,
ME+GD, IDK+AP and RMU, then ``attacks: [all]`` on each; finished steps of ``--out`` are reused)
and writes, per method and attack, the recovery of forget fact accuracy and of the answer's
probability with their paired 95% intervals, and each method's worst case.

All five methods' attacks take longer than one sitting on 2 cores (about 45 min per method), so
``--methods`` runs some of them, and each finished method's attack summary is kept under
``benchmarks/results/robustness/`` with the machine and date it was measured on; the table is
built from those files. ``--table-only`` rewrites the table from them without running anything.

    python benchmarks/robustness.py --out runs/robustness [--methods NPO+GD,RMU]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from benchmarks_common import cell, cpu_name, update_section

SECTION = "## Robustness: recovery under attack"
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "experiment_robustness.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "robustness"
METHODS = ("GA+GD", "NPO+GD", "ME+GD", "IDK+AP", "RMU")
SHOWN = ("fact_accuracy", "probability")


def finished_attacks(out: Path) -> dict[str, dict]:
    """Method label -> its attack summary, for every attack step of ``out`` that finished."""
    found = {}
    for done in sorted((out / "steps").glob("attack-*/step_done.json")):
        summary = json.loads((done.parent / "attack_summary.json").read_text())
        label = json.loads(done.read_text())["step"].removeprefix("attack-")
        found[label] = summary
    return found


def result_file(label: str) -> Path:
    return RESULTS / (label.replace("+", "_") + ".json")


def keep_results(found: dict[str, dict], seconds: float | None) -> None:
    """Store each finished method's summary with where and when it was measured."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    measured = {"date": date.today().isoformat(), "cpu": cpu_name(),
                "threads": 2, "run_seconds": None if seconds is None else round(seconds)}
    for label, summary in found.items():
        result_file(label).write_text(json.dumps({"method": label, "measured": measured, **summary}, indent=1) + "\n")


def kept_results() -> dict[str, dict]:
    return {m: json.loads(result_file(m).read_text()) for m in METHODS if result_file(m).exists()}



def recovery_cell(entry: dict | None) -> str:
    if not entry or entry.get("attacked") is None:
        return "n/c"
    if entry.get("recovery") is None:
        return f"n/c ({cell(entry['unlearned'])} -> {cell(entry['attacked'])})"
    interval = entry.get("interval")
    spread = f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else ""
    return f"{entry['recovery']:.2f}{spread}"


def tables(found: dict[str, dict]) -> list[str]:
    lines = []
    labels = [m for m in METHODS if m in found]
    names = list(dict.fromkeys(a["name"] for s in found.values() for a in s["attacks"]))
    for metric in (*SHOWN, "choice_accuracy", "fact_token_probability"):
        rows = [(label, {a["name"]: a["metrics"].get(metric) for a in found[label]["attacks"]}) for label in labels]
        shown = [n for n in names if any(row.get(n) for _, row in rows)]
        if not shown:
            continue
        lines += [f"Recovery of forget `{metric}` (95% paired interval):", "",
                  "| method | " + " | ".join(shown) + " |", "|---|" + "---|" * len(shown)]
        lines += ["| " + label + " | " + " | ".join(recovery_cell(row.get(n)) for n in shown) + " |"
                  for label, row in rows]
        lines.append("")
    lines += ["Worst case over attacks (forget score without attack -> worst, and the attack):", "",
              "| method | " + " | ".join(SHOWN) + " |", "|---|" + "---|" * len(SHOWN)]
    for label in labels:
        robust = found[label]["robust"]
        cells = [f"{cell(robust[m]['unlearned'])} -> {cell(robust[m]['value'])} ({robust[m]['attack']})"
                 if m in robust else "n/c" for m in SHOWN]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


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
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated labels to run")
    parser.add_argument("--table-only", action="store_true", help="rewrite the table from the kept results")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.table_only:
        import unlearn

        began = time.time()
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unlearn.run(chosen_config(methods), out=str(out))
        ran = {label: summary for label, summary in finished_attacks(out).items() if label in methods}
        keep_results(ran, time.time() - began)
    found = kept_results()
    missing = [m for m in METHODS if m not in found]
    status = (f"all {len(METHODS)} methods" if not missing else
              f"PARTIAL: {len(found)} of {len(METHODS)} methods measured ({', '.join(missing)} still to run)")
    where = "; ".join(f"{label}: {r['measured']['date']}, {r['measured']['cpu']}, run {r['measured']['run_seconds']} s"
                      for label, r in found.items())
    section = "\n".join([
        SECTION, "",
        "`python benchmarks/robustness.py --out runs/robustness --methods LIST`: `configs/experiment_robustness.yaml` "
        "(the demo's target and retain models: 20 invented people x 2 facts, forget50 / retain50, "
        "SmolLM2-135M-Instruct, fp32, 2 CPU threads; each method unlearned with the demo's settings), then "
        "`unlearn attack --attacks all` with its defaults on each unlearned model, against the target; one seed. "
        f"Status: {status}. Measured (run time includes any steps it had to train first): {where or 'nothing yet'}. "
        "Recovery = (attacked - unlearned) / (original - unlearned); relearning attacks measure only their "
        "held-out questions (10 of 20 for `relearn`); n/c = unlearning changed the metric by less than 0.05 "
        "(the scores are shown). The stored summaries are in `benchmarks/results/robustness/`.", "",
        *tables(found)])
    update_section(ROOT / "BENCHMARKS.md", section, SECTION)
    print(section)


if __name__ == "__main__":
    main()
