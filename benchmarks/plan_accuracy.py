"""The memory planner's prediction against the measured peak of real training runs (default model, CPU).

Each case (method, max length, full weights or LoRA) trains in its own process: the same
``build_trainer`` as ``unlearn forget``, batch 8 per stream, no accumulation, ``--steps`` optimizer
steps, and reports the process's peak resident set size (``ru_maxrss``). The planner predicts
the peak for the worst case, every sequence of every stream ``max_length`` tokens long, so the
data here realizes it: answers (and refusals) are long enough to be cut at ``max_length``, so
every batch is ``8 x max_length`` tokens in every stream. The prediction is ``unlearn plan``'s
(``training.memory_plan``), with its runtime baseline measured in the parent process.

    OMP_NUM_THREADS=2 python benchmarks/plan_accuracy.py --threads 2 --steps 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks_common import cpu_name, update_section

SECTION = "## Memory planner: predicted vs measured peak"
METHODS = ["GA+GD", "NPO+GD", "NPO+KL", "IDK+AP"]
LENGTHS = [128, 256]


def current_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure_one(method: str, data: str, refusals: str, length: int, lora: bool, steps: int, threads: int,
                chunk: int, checkpointing: bool = False) -> dict:
    """Train ``steps`` steps of ``method`` in this process; peak RSS and where it stood before training."""
    import torch

    from unlearn.training.forget import ForgetSettings, build_trainer

    torch.set_num_threads(threads)
    after_imports = current_rss()
    with tempfile.TemporaryDirectory() as scratch:
        settings = ForgetSettings(data=data, out=scratch, method=method, batch_size=8, gradient_accumulation_steps=1,
                                  epochs=1, warmup_epochs=0, threads=threads, device="cpu", logging_steps=1000,
                                  max_length=length, forget="forget10", retain="retain90", lora=lora,
                                  refusals=refusals, save_checkpoints=False, loss_chunk_tokens=chunk,
                                  gradient_checkpointing=checkpointing)
        trainer, _, _ = build_trainer(settings, Path(scratch) / "checkpoints")
        built = current_rss()
        trainer.args.max_steps = steps
        trainer.args.save_strategy = "no"
        began = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - began
    return {"threads": threads, "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "after_imports": after_imports, "after_build": built, "train_seconds": seconds}


def long_records() -> tuple[dict, list[str]]:
    """The built-in benchmark's forget10 / retain90 with every answer its person's ten facts three times
    over (several hundred tokens: cut at any ``max_length`` here), and refusals as long."""
    from unlearn.data.fictitious import generate_fictitious

    splits = generate_fictitious(40, 10, 0)
    by_person: dict[str, list[str]] = {}
    for record in splits["full"]:
        by_person.setdefault(record["subject"], []).append(record["answer"])
    lengthen = lambda r: {**r, "answer": " ".join(by_person[r["subject"]] * 3)}  # noqa: E731
    refusal = " ".join(["I am sorry, but I do not know anything about this person and cannot answer that."] * 30)
    return ({"forget10": [lengthen(r) for r in splits["forget10"]],
             "retain90": [lengthen(r) for r in splits["retain90"]]}, [refusal])


def run_case(method: str, length: int, lora: bool, data: str, refusals: str, args) -> dict | None:
    command = [sys.executable, __file__, "--one", method, "--data", data, "--refusals", refusals, "--length",
               str(length), "--steps", str(args.steps), "--threads", str(args.threads), "--chunk", str(args.chunk)]
    if lora:
        command.append("--lora")
    if args.checkpointing:
        command.append("--checkpointing")
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(f"{method} {length} lora={lora}: failed\n{done.stderr[-1500:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def predict(method: str, length: int, lora: bool, chunk: int, baseline: int, checkpointing: bool = False):
    from unlearn.training.memory_plan import PlanInputs, plan_memory
    from unlearn.training.plan_sources import default_model_shape, method_needs

    return plan_memory(PlanInputs(shape=default_model_shape(), method=method_needs(method)[0], batch_size=8,
                                  max_length=length, dtype="float32", lora=lora, loss_chunk_tokens=chunk, device="cpu",
                                  runtime_baseline=baseline, gradient_checkpointing=checkpointing))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--lengths", nargs="+", type=int, default=LENGTHS)
    parser.add_argument("--weights", nargs="+", choices=["full", "lora"], default=["full", "lora"])
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per case")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=512, help="loss_chunk_tokens of every case")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--refusals", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lora", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", action="store_true", help="every case with gradient checkpointing")
    parser.add_argument("--write", default="BENCHMARKS.md", help="Markdown file to update ('' to skip)")
    parser.add_argument("--results", help="also write the rows as JSON here")
    parser.add_argument("--measured", nargs="+", metavar="JSONL",
                        help="take the measured peaks from these files (one `--one` result a line, with method, "
                             "max_length, weights) instead of running the cases")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.data, args.refusals, args.length, args.lora, args.steps,
                                     args.threads, args.chunk, args.checkpointing)))
        return

    from unlearn.data.benchmark import write_benchmark
    from unlearn.training.plan_sources import runtime_baseline

    baseline = runtime_baseline()
    rows = []
    if args.measured:
        for path in args.measured:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                measured = json.loads(line)
                plan = predict(measured["method"], measured["max_length"], measured["weights"] == "lora", args.chunk,
                               baseline, measured.get("checkpointing", False))
                rows.append({**measured, "predicted_bytes": plan.total, "parts": plan.parts})
        args.methods = []  # nothing left to run
    with tempfile.TemporaryDirectory() as scratch:
        splits, refusals = long_records()
        write_benchmark(splits, scratch)
        refusal_file = Path(scratch) / "refusals.txt"
        refusal_file.write_text("\n".join(refusals) + "\n", encoding="utf-8")
        for weights in args.weights:
            for length in args.lengths:
                for method in args.methods:
                    measured = run_case(method, length, weights == "lora", scratch, str(refusal_file), args)
                    if measured is None:
                        continue
                    plan = predict(method, length, weights == "lora", args.chunk, baseline, args.checkpointing)
                    row = {"method": method, "max_length": length, "weights": weights,
                           "checkpointing": args.checkpointing, **measured,
                           "predicted_bytes": plan.total, "parts": plan.parts}
                    rows.append(row)
                    print(f"{method:<8} L={length:<4} {weights:<5} measured {measured['peak_bytes'] / 1e9:.2f} GB  "
                          f"predicted {plan.total / 1e9:.2f} GB  ({plan.total / measured['peak_bytes'] - 1:+.1%})",
                          flush=True)
    if args.results:
        Path(args.results).write_text(json.dumps({"baseline": baseline, "rows": rows}, indent=1), encoding="utf-8")
    table = render(rows, baseline, args)
    print(table)
    if args.write:
        update_section(Path(args.write), table, SECTION)


def render(rows: list[dict], baseline: int, args) -> str:
    command = (f"OMP_NUM_THREADS={args.threads} python benchmarks/plan_accuracy.py --threads {args.threads} "
               f"--steps {args.steps} --chunk {args.chunk}")
    lines = [SECTION, "",
             f"`unlearn plan`'s predicted peak beside the measured peak resident set size of a real training process "
             f"(`build_trainer` + `trainer.train()`, as `unlearn forget` runs it; {args.steps} optimizer steps, each "
             f"case in its own process). Default model SmolLM2-135M-Instruct, fp32, CPU, batch 8 per stream, no "
             f"accumulation, loss_chunk_tokens {args.chunk}, every sequence of every stream cut at max length "
             f"(long answers and long refusals: the worst case the planner predicts). Runtime baseline "
             f"(measured by the planner: Python + torch + transformers + the training modules imported) "
             f"{baseline / 1e9:.2f} GB. Machine: {cpu_name()}, {os.cpu_count()} cores shared with other jobs "
             f"at the time, torch threads as listed. Command: `{command}`"
             + (" (the measured peaks read from `--one` results of earlier runs, --measured; the planner's numbers "
                "computed now)" if args.measured else "") + ". GB = 1e9 bytes.", "",
             "| method | max length | weights | torch threads | predicted GB | measured GB | error | "
             "weights + grads + optimizer GB | reference GB | activations GB | logits GB | allocator GB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        parts = row["parts"]
        state = parts["weights"] + parts["gradients"] + parts["optimizer"]
        error = row["predicted_bytes"] / row["peak_bytes"] - 1
        weights = row["weights"] + (", checkpointing" if row.get("checkpointing") else "")
        lines.append(f"| {row['method']} | {row['max_length']} | {weights} | "
                     f"{row.get('threads', args.threads)} | "
                     f"{row['predicted_bytes'] / 1e9:.2f} | {row['peak_bytes'] / 1e9:.2f} | {error:+.1%} | "
                     f"{state / 1e9:.2f} | {parts['reference'] / 1e9:.2f} | {parts['activations'] / 1e9:.2f} | "
                     f"{parts['logits'] / 1e9:.2f} | {parts['allocator'] / 1e9:.2f} |")
    if rows:
        worst = max(abs(r["predicted_bytes"] / r["peak_bytes"] - 1) for r in rows)
        lines += ["", f"Largest error: {worst:.1%} of the measured peak (the issue asks for at most 15%)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
