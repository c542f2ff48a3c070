"""Where the activations RMU steers are: per corpus, the mean squared activation per hidden unit at the output
of RMU's layer, and the units that carry most of it.

RMU pushes that layer's output on forget texts towards ``c * u`` (a fixed random unit vector) while keeping
it on retain texts. Units that are large on every input cannot be moved on forget texts alone; this prints
how much of the activation they hold on each corpus (first ``--texts`` records, up to 128 tokens).

    python benchmarks/rmu_activations.py --model runs/bench-wmdp-tuned/validation/steps/finetune-target-* \\
        --data runs/bench-wmdp-tuned/validation/steps/data-* --layer 7
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the target (a model folder)")
    parser.add_argument("--data", required=True, help="a WMDP-style folder with forget_corpus and retain_corpus")
    parser.add_argument("--layer", type=int, default=7, help="RMU's layer (its output is steered)")
    parser.add_argument("--texts", type=int, default=8)
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args()
    from unlearn.models.loading import load_model

    torch.set_num_threads(1)
    model, tokenizer = load_model(args.model, dtype="float32", device="cpu")
    for split in ("forget_corpus", "retain_corpus"):
        lines = (Path(args.data) / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:args.texts]
        batch = tokenizer([json.loads(line)["text"] for line in lines], return_tensors="pt", padding=True,
                          truncation=True, max_length=128)
        with torch.no_grad():  # hidden_states[k] is the output of layer k - 1
            hidden = model(**batch, output_hidden_states=True).hidden_states[args.layer + 1]
        tokens = hidden[batch["attention_mask"].bool()]
        squared = (tokens ** 2).mean(0)
        top = squared.topk(args.top)
        print(f"{split}: mean squared activation {squared.mean():.1f} per unit over {tokens.shape[0]} tokens; units "
              f"{top.indices.tolist()} hold {top.values.sum() / squared.sum():.0%} of it, mean values "
              f"{[round(v, 1) for v in tokens[:, top.indices].mean(0).tolist()]}")


if __name__ == "__main__":
    main()
