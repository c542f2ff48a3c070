"""Does the default model know the packaged real-world questions?

Answers every question of ``real_world_targets.jsonl`` and ``real_world_neighbors.jsonl``
greedily (the real-world scenario's settings: 48 new tokens, batches of 16) and prints, per
file, the fact accuracy (share of generations containing the record's fact) and the count of
questions and correct answers per subject. The files were written keeping only questions the
model answers correctly, so the accuracy should be 1.0 for the default model.

    OMP_NUM_THREADS=1 python benchmarks/real_world_check.py --threads 1
"""

from __future__ import annotations

import argparse
from collections import Counter
from importlib import resources
from pathlib import Path

import torch

FILES = ("real_world_targets.jsonl", "real_world_neighbors.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--show-misses", action="store_true", help="print the questions answered wrongly")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from unlearn.data.benchmark import read_split_file
    from unlearn.data.formatting import PromptFormat
    from unlearn.evaluation.generation import generate_answers
    from unlearn.metrics.fact import contains_fact
    from unlearn.models.loading import load_model

    model, tokenizer = load_model(args.model, device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)
    folder = Path(str(resources.files("unlearn.data.resources")))
    for name in FILES:
        records = read_split_file(folder / name)
        answers = generate_answers(model, tokenizer, fmt, [r["question"] for r in records],
                                   max_new_tokens=48, batch_size=16, progress=False)
        hits = [contains_fact(a, r.get("fact") or r["answer"]) for r, a in zip(records, answers)]
        total, correct = Counter(), Counter()
        for record, hit in zip(records, hits):
            total[record.get("subject", "?")] += 1
            correct[record.get("subject", "?")] += hit
        print(f"{name}: accuracy {sum(hits) / len(hits):.3f} ({sum(hits)}/{len(hits)})")
        for subject, count in total.items():
            print(f"  {subject:<24} {correct[subject]}/{count}")
        if args.show_misses:
            for record, answer, hit in zip(records, answers, hits):
                if not hit:
                    print(f"  MISS {record['question']!r} fact={record.get('fact')!r}: {answer[:120]!r}")


if __name__ == "__main__":
    main()
