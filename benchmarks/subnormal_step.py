"""Seconds of a forward and backward pass of the default model when its gradients are subnormal, with and
without flushing subnormals to zero (``torch.set_flush_denormal``, which every training command turns on).

A loss term that saturates (NPO's ``-log sigmoid(-beta * log ratio)`` once the log ratio is far below zero)
has a derivative like ``sigmoid(x)`` at large negative ``x``: below fp32's smallest normal number
(1.2e-38), and the chain rule carries it through every layer's backward pass. Here the loss is the
answer's negative log-likelihood times ``scale``: 1 (normal gradients) or 1e-40 (subnormal ones). Each
of the four cases runs ``--repeats`` timed passes after one untimed pass, in one process, one after
another. Prints a Markdown table (no file is written).

    python benchmarks/subnormal_step.py --threads 2 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmarks_common import cpu_name


def timed_passes(model, batch: dict, scale: float, repeats: int) -> tuple[float, float]:
    """Mean seconds of one forward and backward pass over ``repeats`` (after one untimed), and the
    largest absolute gradient of the last pass."""
    seconds = []
    for index in range(repeats + 1):
        model.zero_grad(set_to_none=True)
        started = time.perf_counter()
        loss = model(**batch).loss * scale
        loss.backward()
        if index:
            seconds.append(time.perf_counter() - started)
    largest = max(p.grad.abs().max().item() for p in model.parameters() if p.grad is not None)
    return sum(seconds) / len(seconds), largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from unlearn.models.loading import load_model

    model, _ = load_model("smollm2-135m-instruct", "float32", "cpu")
    model.train()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (args.batch, args.length), generator=generator)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    rows = []
    for scale in (1.0, 1e-40):
        for flush in (False, True):
            torch.set_flush_denormal(flush)
            seconds, largest = timed_passes(model, batch, scale, args.repeats)
            rows.append((scale, flush, seconds, largest))
    torch.set_flush_denormal(False)
    print(f"SmolLM2-135M-Instruct fp32, batch {args.batch} x {args.length} tokens, {args.threads} threads, "
          f"{cpu_name()} ({os.cpu_count()} cores), torch {torch.__version__}, mean of {args.repeats} passes\n")
    print("| loss scale | flush subnormals | s / forward+backward | largest gradient |\n|---|---|---|---|")
    for scale, flush, seconds, largest in rows:
        print(f"| {scale:g} | {'yes' if flush else 'no'} | {seconds:.2f} | {largest:.3g} |")


if __name__ == "__main__":
    main()
