"""Wall time of ``unlearn demo`` from an empty cache: an older checkout and this one, in one run.

Each demo runs in its own process with new, empty ``UNLEARN_CACHE`` and ``HF_DATASETS_CACHE``
folders (so the packaged GGUF model is converted again) and a new output folder, one after the
other on the same machine; the older one imports the package from ``--before``/src. Step times are
read from the demo's progress clock. The findings of each run (the demo's headline metrics) are
printed beside the times; whether they hold over seeds is ``benchmarks/demo_quality.py``'s job.
Results are kept in ``--out`` as each demo finishes.

    git worktree add /tmp/old <commit>
    python benchmarks/demo_time.py --before /tmp/old --threads 2 --out runs/demo-time
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks_common import update_section

SECTION = "## Demo: wall time before and after"
STEP_LINE = re.compile(r"\[(\d+):(\d+)\] (run|reuse)\s+(\S.*?) ->")
SHOWN = [("forget", "fact_accuracy"), ("retain", "fact_accuracy"), ("overall", "model_utility_tofu"),
         ("overall", "forget_quality")]


def run_demo(label: str, source: str | None, out: Path, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "UNLEARN_CACHE": str(Path(cache) / "unlearn"),
               "HF_DATASETS_CACHE": str(Path(cache) / "datasets"), "TQDM_DISABLE": "1"}
        if source:
            env["PYTHONPATH"] = str(Path(source) / "src")
        command = [sys.executable, "-m", "unlearn.cli.main", "demo", "--out", str(out), "--threads", str(threads)]
        began = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{label}: the demo failed\n{done.stderr[-2000:]}")
    marks = [(int(m[1]) * 60 + int(m[2]), m[4]) for m in STEP_LINE.finditer(done.stdout)]
    steps = [{"step": name, "seconds": (marks[i + 1][0] if i + 1 < len(marks) else seconds) - start}
             for i, (start, name) in enumerate(marks)]
    return {"label": label, "source": source or "this checkout", "seconds": seconds, "steps": steps,
            "findings": findings(out)}


def findings(out: Path) -> dict:
    from unlearn.report.collect import read_run

    return {m.label: {f"{g} {n}": m.value(g, n) for g, n in SHOWN} for m in read_run(out).models}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="checkout of the older version (its src/ is imported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/demo-time", help="results and the two demos' run folders")
    parser.add_argument("--write", default="BENCHMARKS.md")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for label, source in (("before", args.before), ("now", None)):
        saved = out / f"{label}.json"
        if saved.is_file():
            results.append(json.loads(saved.read_text()))
            continue
        result = run_demo(label, source, out / label, args.threads)
        saved.write_text(json.dumps(result, indent=1))
        results.append(result)
        print(f"{label}: {result['seconds'] / 60:.1f} min", flush=True)
    text = render(results, args)
    print(text)
    if args.write:
        update_section(Path(args.write), text, SECTION)


def render(results: list[dict], args) -> str:
    before, now = results
    minutes = lambda s: f"{int(s // 60)} min {int(s % 60):02d} s"  # noqa: E731
    lines = [SECTION, "",
             f"`python benchmarks/demo_time.py --before OLD_CHECKOUT --threads {args.threads}`: `unlearn demo` from an "
             f"empty cache, the older checkout ({Path(before['source']).name}) then this one, one after the other, "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, nothing else running.", "",
             f"- before: **{minutes(before['seconds'])}**; now: **{minutes(now['seconds'])}** "
             f"({now['seconds'] / before['seconds']:.2f}x).", "",
             "| step | before (s) | now (s) |", "|---|---|---|"]
    now_steps = {s["step"]: s["seconds"] for s in now["steps"]}
    for step in before["steps"]:
        lines.append(f"| {step['step']} | {step['seconds']:.0f} | {now_steps.get(step['step'], float('nan')):.0f} |")
    lines += ["", "Findings of the two runs (same seed; floats differ where the computation's order changed):", "",
              "| model | " + " | ".join(f"{k} before / now" for k in (f"{g} {n}" for g, n in SHOWN)) + " |",
              "|---|" + "---|" * len(SHOWN)]
    for label, values in before["findings"].items():
        after = now["findings"].get(label, {})
        lines.append(f"| {label} | " + " | ".join(f"{_cell(values.get(k))} / {_cell(after.get(k))}"
                                                  for k in values) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    return "n/c" if value is None else f"{value:.3g}"


if __name__ == "__main__":
    main()
