"""Recovery of each unlearning method under every attack of ``unlearn attack``.

Runs ``configs/experiment_robustness.yaml`` (the demo's target and retain models, GA+GD, NPO+GD,
ME+GD, IDK+AP and RMU, then ``attacks: [all]`` on each; finished steps of ``--out`` are reused)
and writes, per method and attack, the recovery of forget fact accuracy and of the answer's
probability with their paired 95% intervals, and each method's worst case. ``--table-only`` reads
the attack steps already finished in ``--out`` without running anything (a partial run is
reported as such).

    python benchmarks/robustness.py --out runs/robustness
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks_common import cell, update_section

SECTION = "## Robustness: recovery under attack"
CONFIG = Path(__file__).resolve().parent.parent / "configs" / "experiment_robustness.yaml"
METHODS = ("GA+GD", "NPO+GD", "ME+GD", "IDK+AP", "RMU")
SHOWN = ("fact_accuracy", "probability")


def finished_attacks(out: Path) -> dict[str, dict]:
    """Method label -> its attack summary, for every attack step that finished."""
    found = {}
    for done in sorted((out / "steps").glob("attack-*/step_done.json")):
        summary = json.loads((done.parent / "attack_summary.json").read_text())
        label = json.loads(done.read_text())["step"].removeprefix("attack-")
        found[label] = summary
    return found


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/robustness")
    parser.add_argument("--table-only", action="store_true", help="report the finished attack steps, run nothing")
    args = parser.parse_args()
    out = Path(args.out)
    began = time.time()
    if not args.table_only:
        import unlearn

        unlearn.run(CONFIG, out=str(out))
    found = finished_attacks(out)
    missing = [m for m in METHODS if m not in found]
    status = (f"all {len(METHODS)} methods" if not missing else
              f"PARTIAL: {len(found)} of {len(METHODS)} methods finished ({', '.join(missing)} still to run)")
    timing = "" if args.table_only else f" It took {time.time() - began:.0f} s."
    section = "\n".join([
        SECTION, "",
        f"`python benchmarks/robustness.py --out {args.out}`: `configs/experiment_robustness.yaml` (the demo's "
        "target and retain models: 20 invented people x 2 facts, forget50 / retain50, SmolLM2-135M-Instruct, fp32, "
        "2 CPU threads; each method unlearned with the demo's settings), then `unlearn attack --attacks all` with "
        f"its defaults on each unlearned model, against the target; one seed. Status: {status}.{timing} "
        "Recovery = (attacked - unlearned) / (original - unlearned); relearning attacks measure only their "
        "held-out questions (10 of 20 for `relearn`); n/c = unlearning changed the metric by less than 0.05 "
        "(the scores are shown).", "", *tables(found)])
    update_section(Path(__file__).resolve().parent.parent / "BENCHMARKS.md", section, SECTION)
    print(section)


if __name__ == "__main__":
    main()
