"""Seconds per optimizer step and peak memory of every unlearning method on the default model.

Each method runs in its own process (so peak memory is its own) on the same data, shaped like
TOFU's forget01 setting (as open-unlearning's figures in issue 27 were taken): 40 forget questions
whose answers are about as long as TOFU's (each a person's five built-in facts in one answer, about
60 tokens) against the matching retain records, batch 8 forget + 8 retain, no accumulation, full
fine-tuning, fp32. (``--shape builtin``: the built-in benchmark's one-fact answers.) The first step
is not timed (allocations, lazy init). On CPU the peak is the process's maximum resident set size
(model, optimizer state, frozen copies, activations, the runtime itself); on CUDA it is
``torch.cuda.max_memory_allocated``. Throughput: tokens per second (real tokens of every stream the
method reads) and the share of the machine's matmul peak, measured in the same process just before
training (a 2048x2048 fp32 matmul), counting ``6 * parameters`` FLOPs per token (forward and backward
through every weight, vocabulary projection included: an upper bound on the work, since only
answer positions are projected). ``--before PATH``: the same measurement with the package from
another checkout (``PATH/src``, e.g. a ``git worktree`` of an older commit), side by side.

    python benchmarks/train_step.py --threads 2 --steps 5 --methods GA+GD NPO+GD NPO+KL --before /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from benchmarks_common import update_section

METHODS = ["GA+GD", "GA+KL", "NPO+GD", "NPO+KL", "SimNPO+GD", "DPO+GD", "DPO+KL", "IDK+GD", "IDK+AP", "ME+GD",
           "WGA+GD", "CE-U+GD", "UNDIAL+GD", "LLMU+GD", "RMU"]
SECTION = "## Unlearning step time and peak memory"


class StepTimer(TrainerCallback):
    def __init__(self):
        self.durations = []
        self.tokens = []
        self.began = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self.began = time.perf_counter()
        self.tokens.append(0)

    def on_step_end(self, args, state, control, **kwargs):
        self.durations.append(time.perf_counter() - self.began)

    def count(self, batch: dict) -> None:
        self.tokens[-1] += sum(int(v["attention_mask"].sum()) for v in batch.values() if isinstance(v, dict))


def matmul_peak_flops(device: str, size: int = 2048, repeats: int = 8) -> float:
    """FLOP/s of a square fp32 matmul on this device and thread count (best of ``repeats``)."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        began = time.perf_counter()
        torch.mm(a, b)
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - began)
    return 2 * size ** 3 / best


def measure_one(method: str, data: str, steps: int, threads: int, device: str, max_length: int,
                checkpointing: bool = False) -> dict:
    import unlearn
    from unlearn.training.forget import ForgetSettings, build_trainer

    torch.set_num_threads(threads)
    peak_flops = matmul_peak_flops(device)
    with tempfile.TemporaryDirectory() as scratch:
        settings = ForgetSettings(data=data, out=scratch, method=method, batch_size=8, gradient_accumulation_steps=1,
                                  epochs=1, warmup_epochs=0, threads=threads, device=device, logging_steps=1000,
                                  max_length=max_length, forget="forget10", retain="retain90",
                                  **({"gradient_checkpointing": True} if checkpointing else {}))
        trainer, _, _ = build_trainer(settings, Path(scratch) / "checkpoints")
        trainer.args.max_steps = steps
        trainer.args.save_strategy = "no"
        timer = StepTimer()
        trainer.add_callback(timer)
        compute_loss = trainer.compute_loss

        def counted(model, inputs, *args, **kwargs):
            timer.count(inputs)
            return compute_loss(model, inputs, *args, **kwargs)

        trainer.compute_loss = counted
        trainer.train()
        parameters = sum(p.numel() for p in trainer.model.parameters())
    timed = timer.durations[1:]
    tokens_per_second = sum(timer.tokens[1:]) / sum(timed)
    peak = (torch.cuda.max_memory_allocated() if torch.cuda.is_available() and device != "cpu"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"method": method + (" (gradient checkpointing)" if checkpointing else ""),
            "seconds_per_step": sum(timed) / len(timed), "peak_bytes": peak, "steps_timed": len(timed),
            "tokens_per_second": tokens_per_second, "matmul_peak_flops": peak_flops,
            "share_of_peak": 6 * parameters * tokens_per_second / peak_flops,
            "package": str(Path(unlearn.__file__).parent.parent)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per method (the first is not timed)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--also-checkpointing", action="store_true",
                        help="also run each method with --gradient-checkpointing (this checkout only)")
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=["tofu", "builtin"], default="tofu",
                        help="TOFU-length answers (default) or the built-in one-fact answers")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--before", help="a checkout of an older version to measure side by side (its src/ is used)")
    parser.add_argument("--write", default="BENCHMARKS.md", help="Markdown file to update ('' to skip)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.data, args.steps, args.threads, args.device, args.max_length,
                                     args.checkpointing)))
        return

    from unlearn.data.benchmark import write_benchmark

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        write_benchmark(benchmark_records(args.shape), scratch)
        for method in args.methods:
            row = run_one(method, scratch, args, None)
            if row and args.before:
                before = run_one(method, scratch, args, args.before)
                row["before"] = before
            if row:
                rows.append(row)
            if args.also_checkpointing:
                row = run_one(method, scratch, args, None, checkpointing=True)
                if row:
                    rows.append(row)
    table = render(rows, args)
    print(table)
    if args.write:
        update_section(Path(args.write), table, SECTION)


def benchmark_records(shape: str) -> dict:
    """The built-in benchmark (40 people x 10 facts, forget10 = 40 questions), or (``tofu``) the same
    questions with TOFU-length answers: each answer is its person's first five answers in one."""
    from unlearn.data.fictitious import generate_fictitious

    splits = generate_fictitious(40, 10, 0)
    if shape == "builtin":
        return splits
    by_person: dict[str, list[str]] = {}
    for record in splits["full"]:
        by_person.setdefault(record["subject"], []).append(record["answer"])
    lengthen = lambda r: {**r, "answer": " ".join(by_person[r["subject"]][:5])}  # noqa: E731
    return {name: [lengthen(r) for r in splits[name]] for name in ("forget10", "retain90")}


def run_one(method: str, data: str, args, source: str | None, checkpointing: bool = False) -> dict | None:
    """One method in its own process, with the package of ``source``/src when given."""
    command = [sys.executable, __file__, "--one", method, "--data", data, "--steps", str(args.steps),
               "--threads", str(args.threads), "--device", args.device, "--max-length", str(args.max_length)]
    command += ["--checkpointing"] if checkpointing else []
    env = {**os.environ, "TQDM_DISABLE": "1"}
    if source:
        env["PYTHONPATH"] = str(Path(source) / "src")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    label = f"{method} ({'before' if source else 'now'})"
    if done.returncode != 0:
        print(f"{label}: failed\n{done.stderr[-1500:]}", file=sys.stderr)
        return None
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{label:<22} {row['seconds_per_step']:.2f} s/step  peak {row['peak_bytes'] / 2**30:.2f} GiB  "
          f"{row['tokens_per_second']:.0f} tokens/s  {row['share_of_peak']:.0%} of "
          f"{row['matmul_peak_flops'] / 1e9:.0f} GFLOP/s  ({row['package']})", flush=True)
    return row


# open-unlearning's figures from issue 27 (real TOFU forget01 + retain90, batch 8 + 8, 2 threads, SmolLM2-135M fp32,
# whole-process peak RSS), measured by the author, not here: seconds per step, peak GB
OPEN_UNLEARNING = {"GA+GD": (10.77, 6.19), "NPO+GD": (13.52, 7.23)}


def render(rows: list[dict], args) -> str:
    shape = ("TOFU-length answers (40 forget questions, each answer five built-in facts of its person, about 60 "
             "tokens; retain records the same)" if args.shape == "tofu" else "built-in benchmark forget10 / retain90")
    command = (f"python benchmarks/train_step.py --threads {args.threads} --steps {args.steps} --shape {args.shape} "
               f"--methods {' '.join(args.methods)}" + (" --before OLD_CHECKOUT" if args.before else "")
               + (" --also-checkpointing" if args.also_checkpointing else ""))
    lines = [SECTION, "",
             f"Default model SmolLM2-135M-Instruct (fp32, full fine-tuning), {shape}, batch 8 forget + 8 retain, "
             f"max length {args.max_length}, {args.steps - 1} timed steps after one untimed, device {args.device}, "
             f"{args.threads} torch threads, {platform.processor() or platform.machine()}, {os.cpu_count()} cores. "
             f"Command: `{command}`. Peak memory: maximum resident set size of the whole process (CPU) or "
             "max_memory_allocated (CUDA), in GB (1e9 bytes). open-unlearning: the issue's figures on real TOFU "
             "(not measured here).", ""]
    header = "| method | s / step | peak GB | tokens / s | share of matmul peak |"
    rule = "|---|---|---|---|---|"
    if args.before:
        header += " before: s / step | before: peak GB | now / before (time, memory) |"
        rule += "---|---|---|"
    header += " open-unlearning s / step, peak GB | now / open-unlearning (time, memory) |"
    rule += "---|---|"
    lines += [header, rule]
    for row in rows:
        cells = [row["method"], f"{row['seconds_per_step']:.2f}", f"{row['peak_bytes'] / 1e9:.2f}",
                 f"{row['tokens_per_second']:.0f}",
                 f"{row['share_of_peak']:.0%} of {row['matmul_peak_flops'] / 1e9:.0f} GFLOP/s"]
        before = row.get("before")
        if args.before:
            cells += ([f"{before['seconds_per_step']:.2f}", f"{before['peak_bytes'] / 1e9:.2f}",
                       f"{row['seconds_per_step'] / before['seconds_per_step']:.2f}x, "
                       f"{row['peak_bytes'] / before['peak_bytes']:.2f}x"] if before else ["-", "-", "-"])
        theirs = OPEN_UNLEARNING.get(row["method"].split(" (")[0])
        cells += ([f"{theirs[0]:.2f}, {theirs[1]:.2f}", f"{row['seconds_per_step'] / theirs[0]:.2f}x, "
                   f"{row['peak_bytes'] / 1e9 / theirs[1]:.2f}x"] if theirs else ["-", "-"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
