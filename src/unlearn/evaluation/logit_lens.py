"""Logit lens (nostalgebraist 2020): decode each layer's residual stream with the model's own final
norm and unembedding, to see whether the answer is still there below the output layer.

A model that only suppresses the answer at its last layers shows it again at an inner one. Each
decoder layer's output is captured by a forward hook (independent of how a transformers version
fills ``hidden_states``); the last layer's lens is the model's own logits, exactly.
"""

from __future__ import annotations

import math
import statistics

import torch

from unlearn.data.collate import pad_batch
from unlearn.data.formatting import IGNORE_INDEX, encode_pairs
from unlearn.evaluation.batching import length_sorted_batches
from unlearn.metrics.lens import covering_token, token_rank
from unlearn.models.modes import evaluating


def final_norm(model):
    """The norm applied before the unembedding (Llama / Mistral / Qwen ``norm``, Phi ``final_layernorm``,
    GPT-2 ``ln_f``)."""
    decoder = model.get_decoder()
    for name in ("norm", "final_layernorm", "ln_f"):
        if getattr(decoder, name, None) is not None:
            return getattr(decoder, name)
    raise ValueError(f"logit lens: cannot find the final norm of {type(model).__name__}")


def fact_token_index(tokenizer, answer_ids: list[int], answer: str, fact: str | None) -> int | None:
    """Position among the answer tokens of the first token of ``fact`` (the first answer token when
    there is no fact or the answer does not contain it; None when truncation cut the fact off).

    The character is found in the decoded answer tokens, not in ``answer``: a plain prompt's answer
    is tokenized as ``" " + answer``, so offsets into ``answer`` are one character early there."""
    if fact is None or fact not in answer:
        return 0
    pieces = [tokenizer.decode(answer_ids[:i + 1]) for i in range(len(answer_ids))]
    texts = [p[len(q):] for p, q in zip(pieces, ["", *pieces[:-1]])]
    text = "".join(texts)
    shift = text.find(answer)
    start = shift + answer.find(fact) if shift >= 0 else text.find(fact)
    return covering_token(texts, start) if start >= 0 else None


@torch.no_grad()
def logit_lens(model, tokenizer, fmt, records: list[dict], max_length: int = 512, batch_size: int = 8) -> dict:
    """Per layer and record: the fact token's probability and rank, and the answer's probability
    ``exp(-mean NLL)``, under the layer's decoding; means (ranks: medians) per layer. No best layer:
    the one chosen on these same questions would overstate them (``metrics.lens.held_out_layer``)."""
    if not records:
        raise ValueError("logit lens: no records to probe")
    columns = encode_pairs(tokenizer, fmt, [r["question"] for r in records], [r["answer"] for r in records],
                           max_length)
    layers = model.get_decoder().layers
    norm, unembed = final_norm(model), model.get_output_embeddings()
    captured: list[torch.Tensor] = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: captured.append(out[0] if isinstance(out, tuple)
                                                                             else out)) for layer in layers]
    device = next(model.parameters()).device
    examples = []
    try:
        with evaluating(model):
            for chunk in length_sorted_batches(len(records), batch_size):
                rows = [{k: columns[k][i] for k in ("input_ids", "attention_mask", "labels")} for i in chunk]
                batch = pad_batch(rows, tokenizer.pad_token_id, "right")
                captured.clear()
                logits = model(input_ids=batch["input_ids"].to(device),
                               attention_mask=batch["attention_mask"].to(device)).logits.float()
                for row, index in enumerate(chunk):
                    labels = batch["labels"][row]
                    predicting = (labels != IGNORE_INDEX).nonzero().flatten() - 1  # position t - 1 predicts token t
                    decoded = [unembed(norm(h[row, predicting])).float() for h in captured[:len(layers) - 1]]
                    decoded.append(logits[row, predicting])
                    examples.append(_example(tokenizer, records[index], labels[predicting + 1], decoded))
    finally:
        for hook in hooks:
            hook.remove()
    per_layer = [{"layer": layer + 1,
                  "fact_token_probability": _kept(statistics.fmean, examples, "fact_token_probability", layer),
                  "fact_token_rank": _kept(statistics.median, examples, "fact_token_rank", layer),
                  "answer_probability": _kept(statistics.fmean, examples, "answer_probability", layer)}
                 for layer in range(len(layers))]
    return {"layers": len(layers), "per_layer": per_layer, "examples": examples}


def _example(tokenizer, record: dict, targets: torch.Tensor, decoded: list[torch.Tensor]) -> dict:
    """One record's values at every layer; ``decoded``: per layer, the logits that predict the answer
    tokens ``targets``, row for row."""
    fact = fact_token_index(tokenizer, targets.tolist(), record["answer"], record.get("fact")) if len(targets) \
        else None
    shown = None if fact is None else tokenizer.decode(targets[fact:fact + 1])
    values = {"question": record["question"], "fact_token": shown,
              "fact_token_probability": [], "fact_token_rank": [], "answer_probability": []}
    for predicting in decoded:
        logprobs = torch.log_softmax(predicting, dim=-1)
        chosen = logprobs.gather(1, targets.to(logprobs.device).unsqueeze(1)).squeeze(1)
        values["fact_token_probability"].append(math.nan if fact is None else math.exp(chosen[fact].item()))
        rank = math.nan if fact is None else token_rank(predicting[fact], int(targets[fact]))
        values["fact_token_rank"].append(rank)
        values["answer_probability"].append(math.exp(chosen.mean().item()) if len(targets) else math.nan)
    return values


def _kept(aggregate, examples: list[dict], key: str, layer: int) -> float:
    """``aggregate`` over the records whose value survived truncation (nan: none did)."""
    values = [e[key][layer] for e in examples if not math.isnan(e[key][layer])]
    return aggregate(values) if values else math.nan
