"""Does the default model know the packaged real-world questions?

Answers every question of a pair of entity files greedily (the real-world scenario's settings:
48 new tokens, batches of 16) and prints, per file, the fact accuracy (share of generations
containing the record's fact) and the count of questions and correct answers per subject.

By default the pair is ``real_world_targets.jsonl`` and ``real_world_neighbors.jsonl`` (the
real-world scenario's entities and RWKU's reported draw); ``--set validation`` checks
``real_world_validation_*.jsonl`` (RWKU's validation draw), ``--files`` any files. The packaged
files were written keeping only questions the model answers correctly, so their accuracy should
be 1.0 for the default model. To write a new set, check generous candidates with ``--keep DIR``:
it writes each file's correctly answered records, in order, to ``DIR`` under the same name.

    OMP_NUM_THREADS=1 python benchmarks/real_world_check.py --threads 1
    OMP_NUM_THREADS=1 python benchmarks/real_world_check.py --threads 1 --set validation
    OMP_NUM_THREADS=1 python benchmarks/real_world_check.py --threads 1 --files cand/targets.jsonl \
        cand/neighbors.jsonl --show-misses --keep kept
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from importlib import resources
from pathlib import Path

import torch

from unlearn.data.rwku import ENTITY_FILES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--set", choices=ENTITY_FILES, default="reported", help="which packaged pair to check")
    parser.add_argument("--files", nargs="+", metavar="JSONL", help="check these files instead of a packaged set")
    parser.add_argument("--show-misses", action="store_true", help="print the questions answered wrongly")
    parser.add_argument("--keep", metavar="DIR", help="write each file's correctly answered records to DIR")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from unlearn.data.benchmark import read_split_file
    from unlearn.data.formatting import PromptFormat
    from unlearn.evaluation.generation import generate_answers
    from unlearn.metrics.fact import contains_fact
    from unlearn.models.loading import load_model

    model, tokenizer = load_model(args.model, device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)
    for path in checked_files(args.set, args.files):
        records = read_split_file(path)
        answers = generate_answers(model, tokenizer, fmt, [r["question"] for r in records],
                                   max_new_tokens=48, batch_size=16, progress=False)
        hits = [contains_fact(a, r.get("fact") or r["answer"]) for r, a in zip(records, answers)]
        print(report(path.name, records, hits))
        if args.show_misses:
            for record, answer, hit in zip(records, answers, hits):
                if not hit:
                    print(f"  MISS {record['question']!r} fact={record.get('fact')!r}: {answer[:120]!r}")
        if args.keep:
            write_kept(Path(args.keep) / path.name, [r for r, hit in zip(records, hits) if hit])


def checked_files(name: str, files: list[str] | None) -> list[Path]:
    """The files given, else the packaged pair ``name``."""
    if files:
        return [Path(f) for f in files]
    folder = Path(str(resources.files("unlearn.data.resources")))
    return [folder / f for f in ENTITY_FILES[name]]


def report(name: str, records: list[dict], hits: list[bool]) -> str:
    """The file's accuracy, then each subject's correct / asked count in file order."""
    total, correct = Counter(), Counter()
    for record, hit in zip(records, hits):
        total[record.get("subject", "?")] += 1
        correct[record.get("subject", "?")] += hit
    lines = [f"{name}: accuracy {sum(hits) / len(hits):.3f} ({sum(hits)}/{len(hits)})"]
    return "\n".join(lines + [f"  {subject:<24} {correct[subject]}/{count}" for subject, count in total.items()])


def write_kept(path: Path, records: list[dict]) -> None:
    """JSON lines in the packaged files' style (one record a line, non-ASCII kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(f"  kept {len(records)} records in {path}")


if __name__ == "__main__":
    main()
