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

``--weights full lora`` also trains a LoRA adapter (the forget command's ``--lora``, rank ``--lora-r``,
its alpha and dropout defaults); ``--optims adamw_torch adamw_bnb_8bit`` also runs bitsandbytes' 8-bit
AdamW (the forget command's ``--optim adamw_bnb_8bit``); ``--also-checkpointing`` adds each combination
with gradient checkpointing.
``--settings-table`` writes these runs as a table of their own (a subsection of
"Unlearning step after issue 27") with the memory planner's prediction beside each measured peak: at
the longest padded batch the run met (the planner assumes every sequence that long) and, for
reference, at ``--max-length`` (what ``unlearn plan`` prints for the command's settings: its worst case).

    python benchmarks/train_step.py --threads 2 --steps 5 --methods GA+GD NPO+GD NPO+KL --before /tmp/old
    python benchmarks/train_step.py --threads 2 --steps 4 --methods GA+GD --weights full lora \
        --optims adamw_torch adamw_bnb_8bit --also-checkpointing --settings-table
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
SETTINGS_PARENT = "## Unlearning step after issue 27: what was measured"
SETTINGS_SECTION = "### LoRA, gradient checkpointing and 8-bit AdamW, with the memory planner's prediction"


class StepTimer(TrainerCallback):
    def __init__(self):
        self.durations = []
        self.tokens = []
        self.lengths = []  # longest padded sequence of each step's batches, any stream
        self.began = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self.began = time.perf_counter()
        self.tokens.append(0)
        self.lengths.append(0)

    def on_step_end(self, args, state, control, **kwargs):
        self.durations.append(time.perf_counter() - self.began)

    def count(self, batch: dict) -> None:
        streams = [v for v in batch.values() if isinstance(v, dict)]
        self.tokens[-1] += sum(int(v["attention_mask"].sum()) for v in streams)
        self.lengths[-1] = max([self.lengths[-1]] + [v["attention_mask"].shape[1] for v in streams])


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
                checkpointing: bool = False, lora_r: int | None = None, optim: str = "adamw_torch") -> dict:
    """One method's steps in this process; ``lora_r``: train a LoRA adapter of that rank (the forget
    command's ``--lora``), else every weight; ``optim``: the Trainer's optimizer."""
    import unlearn

    from unlearn.training.forget import ForgetSettings, build_trainer

    torch.set_num_threads(threads)
    load_start = os.getloadavg()[0]
    peak_flops = matmul_peak_flops(device)
    with tempfile.TemporaryDirectory() as scratch:
        settings = ForgetSettings(data=data, out=scratch, method=method, batch_size=8, gradient_accumulation_steps=1,
                                  epochs=1, warmup_epochs=0, threads=threads, device=device, logging_steps=1000,
                                  max_length=max_length, forget="forget10", retain="retain90",
                                  **({"optim": optim} if optim != "adamw_torch" else {}),  # older checkouts lack it
                                  **({"gradient_checkpointing": True} if checkpointing else {}),
                                  **({"lora": True, "lora_r": lora_r} if lora_r else {}))
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
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        optimizer_bytes = sum(t.nbytes for state in trainer.optimizer.state.values() for t in state.values()
                              if torch.is_tensor(t))
    timed = timer.durations[1:]
    tokens_per_second = sum(timer.tokens[1:]) / sum(timed)
    peak = (torch.cuda.max_memory_allocated() if torch.cuda.is_available() and device != "cpu"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"method": method + label_suffix(checkpointing, lora_r, optim), "base_method": method,
            "lora_r": lora_r, "checkpointing": checkpointing, "optim": optim,
            "longest_batch": max(timer.lengths), "trainable_parameters": trainable,
            "optimizer_state_bytes": optimizer_bytes,
            "seconds_per_step": sum(timed) / len(timed), "peak_bytes": peak, "steps_timed": len(timed),
            "tokens_per_second": tokens_per_second, "matmul_peak_flops": peak_flops,
            "share_of_peak": 6 * parameters * tokens_per_second / peak_flops,
            "package": str(Path(unlearn.__file__).parent.parent), "load": [load_start, os.getloadavg()[0]]}


def label_suffix(checkpointing: bool, lora_r: int | None, optim: str) -> str:
    """`` (LoRA r=8, gradient checkpointing)``: what sets a row apart from the default full-weight run."""
    parts = ([f"LoRA r={lora_r}"] if lora_r else []) + (["gradient checkpointing"] if checkpointing else []) + (
        [optim] if optim != "adamw_torch" else [])
    return f" ({', '.join(parts)})" if parts else ""


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
    parser.add_argument("--weights", nargs="+", choices=["full", "lora"], default=["full"],
                        help="train every weight, a LoRA adapter (the forget command's --lora), or both")
    parser.add_argument("--lora-r", type=int, help="LoRA rank (default: the forget command's, 8)")
    parser.add_argument("--optims", nargs="+", choices=["adamw_torch", "adamw_bnb_8bit"], default=["adamw_torch"],
                        help="the Trainer's optimizer(s); adamw_bnb_8bit: bitsandbytes' 8-bit AdamW")
    parser.add_argument("--settings-table", action="store_true",
                        help="write the runs as the table of LoRA / checkpointing / 8-bit runs with the memory "
                             "planner's prediction (a subsection of the issue-27 step section)")
    parser.add_argument("--results", help="also append each row as a JSON line to this file, as it is measured")
    parser.add_argument("--measured", metavar="JSONL",
                        help="with --settings-table: take the rows from this --results file instead of running them")
    parser.add_argument("--lora", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--optim", default="adamw_torch", help=argparse.SUPPRESS)
    parser.add_argument("--before", help="a checkout of an older version to measure side by side (its src/ is used)")
    parser.add_argument("--write", default="BENCHMARKS.md", help="Markdown file to update ('' to skip)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.data, args.steps, args.threads, args.device, args.max_length,
                                     args.checkpointing, args.lora, args.optim)))
        return

    from unlearn.data.benchmark import write_benchmark
    from unlearn.training.settings import TrainableModelSettings

    args.lora_r = args.lora_r or TrainableModelSettings.model_fields["lora_r"].default
    rows = []
    if args.measured:
        rows = [json.loads(line) for line in Path(args.measured).read_text(encoding="utf-8").splitlines() if line]
        args.methods = []  # nothing left to run
    with tempfile.TemporaryDirectory() as scratch:
        write_benchmark(benchmark_records(args.shape), scratch)
        for method in args.methods:
            for weights in args.weights:
                lora_r = args.lora_r if weights == "lora" else None
                for optim in args.optims:
                    for checkpointing in [False, True] if args.also_checkpointing else [False]:
                        row = run_one(method, scratch, args, None, checkpointing, lora_r, optim)
                        default = not (checkpointing or lora_r or optim != "adamw_torch")
                        if row and args.before and default:
                            row["before"] = run_one(method, scratch, args, args.before)
                        if row:
                            rows.append(row)
                            if args.results:
                                with open(args.results, "a", encoding="utf-8") as results:
                                    results.write(json.dumps(row) + "\n")
    if args.settings_table:
        table = render_settings(with_predictions(rows, args), args)
        print(table)
        if args.write:
            put_subsection(Path(args.write), table, SETTINGS_PARENT, SETTINGS_SECTION)
        return
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


def run_one(method: str, data: str, args, source: str | None, checkpointing: bool = False,
            lora_r: int | None = None, optim: str = "adamw_torch") -> dict | None:
    """One method in its own process, with the package of ``source``/src when given."""
    command = [sys.executable, __file__, "--one", method, "--data", data, "--steps", str(args.steps),
               "--threads", str(args.threads), "--device", args.device, "--max-length", str(args.max_length)]
    command += ["--checkpointing"] if checkpointing else []
    command += ["--lora", str(lora_r)] if lora_r else []
    command += ["--optim", optim] if optim != "adamw_torch" else []
    env = {**os.environ, "TQDM_DISABLE": "1"}
    if source:
        env["PYTHONPATH"] = str(Path(source) / "src")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    label = f"{method}{label_suffix(checkpointing, lora_r, optim)} ({'before' if source else 'now'})"
    if done.returncode != 0:
        print(f"{label}: failed\n{done.stderr[-1500:]}", file=sys.stderr)
        return None
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{label:<40} {row['seconds_per_step']:.2f} s/step  peak {row['peak_bytes'] / 2**30:.2f} GiB  "
          f"{row['tokens_per_second']:.0f} tokens/s  {row['share_of_peak']:.0%} of "
          f"{row['matmul_peak_flops'] / 1e9:.0f} GFLOP/s  ({row['package']})", flush=True)
    return row


# open-unlearning's figures from issue 27 (real TOFU forget01 + retain90, batch 8 + 8, 2 threads, SmolLM2-135M fp32,
# whole-process peak RSS), measured by the author, not here: seconds per step, peak GB
OPEN_UNLEARNING = {"GA+GD": (10.77, 6.19), "NPO+GD": (13.52, 7.23)}


def with_predictions(rows: list[dict], args) -> list[dict]:
    """Each row with the memory planner's peak (``training.memory_plan``, what ``unlearn plan --json``
    computes) for its settings: at the longest padded batch the run met, and at ``--max-length``."""
    from unlearn.training.memory_plan import PlanInputs, plan_memory
    from unlearn.training.plan_sources import default_model_shape, method_needs, runtime_baseline

    baseline = runtime_baseline() if args.device == "cpu" else 0
    shape = default_model_shape()

    def plan(row, length):
        return plan_memory(PlanInputs(
            shape=shape, method=method_needs(row["base_method"])[0], batch_size=8, max_length=length,
            dtype="float32", lora=bool(row["lora_r"]), lora_r=row["lora_r"] or 8,
            gradient_checkpointing=row["checkpointing"], optim=row["optim"], loss_chunk_tokens=512,
            device=args.device, runtime_baseline=baseline))

    return [{**row, "plan": plan(row, row["longest_batch"]), "plan_at_max_length": plan(row, args.max_length)}
            for row in rows]


def render_settings(rows: list[dict], args) -> str:
    """The LoRA / checkpointing / optimizer runs, each peak beside the planner's."""
    used = lambda key: list(dict.fromkeys(row[key] for row in rows))  # noqa: E731 (the runs' own settings)
    weights = ["lora" if r else "full" for r in used("lora_r")]
    command = (f"python benchmarks/train_step.py --threads {args.threads} --steps {args.steps} --shape {args.shape} "
               f"--methods {' '.join(used('base_method'))} --weights {' '.join(weights)} --lora-r {args.lora_r} "
               f"--optims {' '.join(used('optim'))}"
               + (" --also-checkpointing" if True in used("checkpointing") else "") + " --settings-table")
    lines = [SETTINGS_SECTION, "",
             f"Same data and settings as the step table above (batch 8 forget + 8 retain, max length "
             f"{args.max_length}, fp32, {args.steps - 1} timed steps after one untimed, {args.threads} torch threads, "
             f"device {args.device}); LoRA is the forget command's `--lora` (all-linear, alpha 16, dropout 0); "
             "adamw_bnb_8bit is the forget command's `--optim adamw_bnb_8bit`. "
             f"Command: `{command}`. Planner: `training.memory_plan` (what `unlearn plan --json` prints) for the "
             "same settings, with max length = the longest padded batch the run met (the planner assumes every "
             f"sequence that long), and at max length {args.max_length} (its worst case: what `unlearn plan` "
             "prints for the command's settings). Error = planned / measured - 1. Optimizer state: the bytes of "
             "the optimizer's state tensors after the run, measured / planned. Load: the machine's 1-minute load "
             "average when the run began and ended (above the torch threads, the step time is not the method's). "
             "GB = 1e9 bytes.", "",
             "| method | weights | gradient checkpointing | optimizer | s / step | load | peak GB | longest batch | "
             "planner GB | error | planner GB at max length | optimizer state GB, measured / planned |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        plan, worst = row["plan"], row["plan_at_max_length"]
        weights = f"LoRA r={row['lora_r']}" if row["lora_r"] else "full"
        lines.append(
            f"| {row['base_method']} | {weights} | "
            f"{'yes' if row['checkpointing'] else 'no'} | {row['optim']} | {row['seconds_per_step']:.2f} | "
            f"{'-'.join(f'{value:.1f}' for value in row.get('load', [])) or '?'} | "
            f"{row['peak_bytes'] / 1e9:.2f} | {row['longest_batch']} | {plan.total / 1e9:.2f} | "
            f"{plan.total / row['peak_bytes'] - 1:+.1%} | {worst.total / 1e9:.2f} | "
            f"{row['optimizer_state_bytes'] / 1e9:.3f} / {plan.parts['optimizer'] / 1e9:.3f} |")
    return "\n".join(lines) + "\n"


def put_subsection(path: Path, table: str, parent: str, heading: str) -> None:
    """Replace ``heading``'s text up to the end of its first table (notes written after the table stay),
    or append the subsection to the end of section ``parent`` (up to the next ``## ``)."""
    text = path.read_text(encoding="utf-8")
    start = text.index(parent)
    end = text.find("\n## ", start + len(parent))
    end = len(text) if end < 0 else end
    own = text.find(heading, start, end)
    if own < 0:
        text = text[:end].rstrip("\n") + "\n\n" + table.rstrip("\n") + "\n" + text[end:]
    else:
        lines = text[own:].split("\n")
        first = next(n for n, line in enumerate(lines) if line.startswith("|"))
        last = next((n for n in range(first, len(lines)) if not lines[n].startswith("|")), len(lines))
        text = text[:own] + table.rstrip("\n") + "\n" + "\n".join(lines[last:])
    path.write_text(text, encoding="utf-8")


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
