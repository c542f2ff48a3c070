"""Every method through ``unlearn forget`` on the default model, to completion, then reloaded.

Runs the real command (progress bars, reference caching, saving) on the built-in benchmark's
forget01 with retain99, one epoch, and loads each saved model back. Reports wall time per
method and whether the reload gave a model whose weights differ from the original (for a
manifest model, its main part). Rows of methods not run this time are kept from the file.

    python benchmarks/forget_all_methods.py --threads 2
    python benchmarks/forget_all_methods.py --methods ULD ICUL
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks_common import update_section
from train_step import METHODS

from unlearn.families import FAMILY_METHODS
from unlearn.objectives.registry import inference_cost

ALL_METHODS = [*METHODS, "SatImp+GD", *FAMILY_METHODS]

SECTION = "## Every method to completion on the default model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=ALL_METHODS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", default="BENCHMARKS.md")
    args = parser.parse_args()
    from unlearn.data.benchmark import write_benchmark
    from unlearn.data.fictitious import generate_fictitious
    from unlearn.models.loading import load_model

    original = load_model("smollm2-135m-instruct", device="cpu")[0].state_dict()
    rows = kept_rows(Path(args.write)) if args.write else {}
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        write_benchmark(generate_fictitious(40, 5, 0), data)
        for method in args.methods:
            out = Path(scratch) / method
            command = ["unlearn", "-q", "forget", "--data", str(data), "--forget", "forget01", "--retain", "retain99",
                       "--method", method, "--out", str(out), "--epochs", "1", "--batch-size", "4",
                       "--gradient-accumulation-steps", "1", "--learning-rate", "1e-5", "--warmup-epochs", "0",
                       "--threads", str(args.threads), "--device", "cpu", "--rmu-reduction", "mean"]
            began = time.time()
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
            seconds = time.time() - began
            status = "failed: " + done.stderr.strip().splitlines()[-1] if done.returncode else "ok"
            moved = ""
            if done.returncode == 0:
                saved = load_model(str(out), device="cpu")[0]
                saved = saved.trainable_part() if hasattr(saved, "trainable_part") else saved
                weights = saved.state_dict()
                moved = f"{max((weights[k] - original[k]).abs().max().item() for k in original):.2e}"
            rows[method] = f"| {method} | {status} | {seconds:.0f} | {moved} | {inference_cost(method)} |"
            print(rows[method], flush=True)
    table = "\n".join([
        SECTION, "",
        f"`unlearn forget` on SmolLM2-135M-Instruct (fp32), built-in benchmark (40 people x 5 QA) forget01 "
        f"(5 records) / retain99, 1 epoch, batch 4, lr 1e-5, {args.threads} threads; each saved model "
        "was loaded back and compared with the original (largest absolute weight change). Wall time "
        "includes process start, model load, reference caching and saving. "
        "Command: `python benchmarks/forget_all_methods.py`.", "",
        "| method | result | seconds | max weight change | inference cost |", "|---|---|---|---|---|",
        *[rows[m] for m in ALL_METHODS if m in rows]]) + "\n"
    print(table)
    if args.write:
        update_section(Path(args.write), table, SECTION)


def kept_rows(path: Path) -> dict[str, str]:
    """The section's rows already in ``path``, by method (an inference-cost cell added if missing)."""
    if not path.is_file() or SECTION not in path.read_text():
        return {}
    section = path.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("method",) and not cells[0].startswith("---"):
            rows[cells[0]] = "| " + " | ".join([*cells[:4], inference_cost(cells[0])]) + " |"
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
