"""Seconds per optimizer step and peak memory of every unlearning method on the default model.

Each method runs in its own process (so peak memory is its own) on the same data: the
built-in benchmark's forget10 / retain90, batch 8, no accumulation, full fine-tuning. The
first step is not timed (allocations, lazy init). On CPU the peak is the process's maximum
resident set size (model, optimizer state, frozen copies, activations); on CUDA it is
``torch.cuda.max_memory_allocated``. Throughput: tokens per second (real tokens of every stream
the method reads) and the share of the machine's matmul peak, measured in the same process
just before training (a 2048x2048 fp32 matmul), counting ``6 * parameters`` FLOPs per token
(forward and backward through every weight, vocabulary projection included). Writes a table
into BENCHMARKS.md.

    python benchmarks/train_step.py --threads 2 --steps 4
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


def measure_one(method: str, data: str, steps: int, threads: int, device: str) -> dict:
    from unlearn.training.forget import ForgetSettings, build_trainer

    torch.set_num_threads(threads)
    peak_flops = matmul_peak_flops(device)
    with tempfile.TemporaryDirectory() as scratch:
        settings = ForgetSettings(data=data, out=scratch, method=method, batch_size=8, gradient_accumulation_steps=1,
                                  epochs=1, warmup_epochs=0, threads=threads, device=device, logging_steps=1000,
                                  max_length=128)
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
    return {"method": method, "seconds_per_step": sum(timed) / len(timed), "peak_bytes": peak, "steps_timed": len(timed),
            "tokens_per_second": tokens_per_second, "matmul_peak_flops": peak_flops,
            "share_of_peak": 6 * parameters * tokens_per_second / peak_flops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per method (the first is not timed)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--write", default="BENCHMARKS.md", help="Markdown file to update ('' to skip)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.data, args.steps, args.threads, args.device)))
        return

    from unlearn.data.benchmark import write_benchmark
    from unlearn.data.fictitious import generate_fictitious

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        write_benchmark(generate_fictitious(40, 10, 0), scratch)
        for method in args.methods:
            command = [sys.executable, __file__, "--one", method, "--data", scratch, "--steps", str(args.steps),
                       "--threads", str(args.threads), "--device", args.device]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
            if done.returncode != 0:
                print(f"{method}: failed\n{done.stderr[-1500:]}", file=sys.stderr)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{method:<10} {row['seconds_per_step']:.2f} s/step  peak {row['peak_bytes'] / 2**30:.2f} GiB  "
                  f"{row['tokens_per_second']:.0f} tokens/s  {row['share_of_peak']:.0%} of "
                  f"{row['matmul_peak_flops'] / 1e9:.0f} GFLOP/s", flush=True)
    table = render(rows, args)
    print(table)
    if args.write:
        update_section(Path(args.write), table, SECTION)


def render(rows: list[dict], args) -> str:
    base = next((r for r in rows if r["method"] == "GA+GD"), None)
    lines = [SECTION, "",
             f"Default model SmolLM2-135M-Instruct (fp32, full fine-tuning), built-in benchmark forget10 / retain90, "
             f"batch 8 forget + 8 retain, max length 128, {args.steps - 1} timed steps after one untimed, "
             f"device {args.device}, {args.threads} torch threads, {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores. Command: `python benchmarks/train_step.py --threads {args.threads} "
             f"--steps {args.steps}`. Peak memory: maximum resident set size of the process (CPU) or "
             "max_memory_allocated (CUDA).", "",
             "| method | s / step | vs GA+GD | peak memory (GiB) | vs GA+GD | tokens / s | share of matmul peak |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        time_ratio = f"{row['seconds_per_step'] / base['seconds_per_step']:.2f}x" if base else "n/a"
        memory_ratio = f"{row['peak_bytes'] / base['peak_bytes']:.2f}x" if base else "n/a"
        lines.append(f"| {row['method']} | {row['seconds_per_step']:.2f} | {time_ratio} | "
                     f"{row['peak_bytes'] / 2**30:.2f} | {memory_ratio} | {row['tokens_per_second']:.0f} | "
                     f"{row['share_of_peak']:.0%} of {row['matmul_peak_flops'] / 1e9:.0f} GFLOP/s |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
