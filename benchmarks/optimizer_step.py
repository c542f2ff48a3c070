"""Seconds of one optimizer step on the default model's weights: torch's AdamW against bitsandbytes'
8-bit AdamW (``unlearn forget --optim adamw_bnb_8bit``) and its 32-bit AdamW, and each one's state size.

The step alone, not the forward and backward passes: every weight gets a seeded random gradient, then
``--repeats`` timed steps follow one untimed step (which allocates the state). The three optimizers run
in one process, one after another, on the same weights (fp32). Prints a Markdown table (no file is
written).

    python benchmarks/optimizer_step.py --threads 2 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmarks_common import cpu_name


def optimizers(model) -> dict:
    """Name -> a function returning a fresh optimizer over ``model``'s weights: the first two as the forget
    command's Trainer builds them (``create_optimizer``: weight decay groups; for 8-bit, embeddings kept in
    32-bit state), the third to tell bitsandbytes' CPU kernels apart from its 8-bit quantization."""
    import tempfile

    import bitsandbytes as bnb
    from transformers import Trainer, TrainingArguments

    def trainer_optimizer(optim: str):
        with tempfile.TemporaryDirectory() as scratch:
            args = TrainingArguments(output_dir=scratch, optim=optim, learning_rate=1e-5, weight_decay=0.01,
                                     use_cpu=True, report_to="none")
            return Trainer(model=model, args=args).create_optimizer()

    return {"adamw_torch (torch AdamW)": lambda: trainer_optimizer("adamw_torch"),
            "adamw_bnb_8bit (bitsandbytes AdamW8bit)": lambda: trainer_optimizer("adamw_bnb_8bit"),
            "bitsandbytes AdamW 32-bit (not a forget option)":
                lambda: bnb.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)}


def time_steps(make, repeats: int) -> tuple[float, int]:
    """Best seconds of ``repeats`` steps after an untimed one, and the state's bytes."""
    optimizer = make()
    optimizer.step()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - began)
    state = sum(t.nbytes for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t))
    return min(times), state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from unlearn.models.loading import load_model

    torch.set_num_threads(args.threads)
    model, _ = load_model(args.model, dtype="float32", device="cpu")
    parameters = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(0)
    for p in parameters:
        p.grad = torch.randn(p.shape, generator=generator) * 1e-3
    count = sum(p.numel() for p in parameters)
    load = os.getloadavg()[0]
    rows, baseline = [], None
    for name, make in optimizers(model).items():
        seconds, state = time_steps(make, args.repeats)
        baseline = baseline or seconds
        rows.append(f"| {name} | {seconds:.2f} | {seconds / baseline:.1f}x | {state / 1e9:.3f} |")
    print(f"{args.model}, {count / 1e6:.1f} M weights, fp32, {args.threads} threads, best of {args.repeats} after "
          f"one, {cpu_name()}; 1-minute load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n")
    print("\n".join(["| optimizer | s / step | x torch's | state GB |", "|---|---|---|---|", *rows]))


if __name__ == "__main__":
    main()
