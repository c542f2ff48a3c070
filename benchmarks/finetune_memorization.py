"""How fast does fine-tuning make the default model memorize the built-in benchmark?

Fine-tunes on ``full`` with ``unlearn``'s own fine-tuning code and, after every epoch,
answers every question greedily to measure fact accuracy (share of answers that contain the
record's key fact). Prints one line per epoch and a JSON summary; run it alone on the machine.

    python benchmarks/finetune_memorization.py --people 20 --qa-per-person 5 --epochs 8 \\
        --learning-rate 3e-4 --batch-size 4 --threads 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from unlearn.data.benchmark import Benchmark, write_benchmark
from unlearn.data.fictitious import generate_fictitious
from unlearn.data.formatting import PromptFormat
from unlearn.evaluation.generation import generate_answers
from unlearn.metrics.fact import fact_accuracy
from unlearn.training.finetune import FinetuneSettings, finetune


class FactAccuracyPerEpoch(TrainerCallback):
    def __init__(self, records):
        self.records = records
        self.rows = []
        self.started = time.time()
        self.generation_seconds = 0.0

    def on_epoch_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        tokenizer = processing_class
        fmt = PromptFormat.for_tokenizer(tokenizer)
        began = time.time()
        answers = generate_answers(model, tokenizer, fmt, self.records["question"], max_new_tokens=48,
                                   progress=False)
        self.generation_seconds += time.time() - began
        accuracy = fact_accuracy(answers, self.records["fact"])
        train_seconds = time.time() - self.started - self.generation_seconds
        row = {"epoch": round(state.epoch, 2), "step": state.global_step, "fact_accuracy": round(accuracy, 3),
               "train_seconds": round(train_seconds, 1)}
        self.rows.append(row)
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--qa-per-person", type=int, default=5)
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        write_benchmark(generate_fictitious(args.people, args.qa_per_person, args.seed), data)
        records = Benchmark(str(data)).split("full")
        callback = FactAccuracyPerEpoch(records)
        settings = FinetuneSettings(data=str(data), out=str(Path(scratch) / "model"), epochs=args.epochs,
                                    learning_rate=args.learning_rate, batch_size=args.batch_size, lora=args.lora,
                                    threads=args.threads, seed=args.seed, check_facts=0, logging_steps=1000,
                                    device="cpu")
        summary = finetune(settings, callbacks=[callback])
    print(json.dumps({"settings": vars(args), "records": len(records), "per_epoch": callback.rows,
                      "train_seconds_total": summary["train_seconds"],
                      "seconds_per_step": round(summary["train_seconds"] / summary["optimizer_steps"], 2)}))


if __name__ == "__main__":
    main()
