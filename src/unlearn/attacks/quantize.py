"""Quantization attack (Zhang et al., ICLR 2025): the unlearned model's weights in 4 or 8 bits.

Unlearning with a small learning rate moves weights by less than a 4-bit quantization step, so
rounding them can land back on the original model's values. Every linear layer's weight is
quantized and dequantized with bitsandbytes' own functions, as loading with
``BitsAndBytesConfig`` would store it:

- ``nf4`` / ``fp4``: ``quantize_4bit`` / ``dequantize_4bit``, blocks of 64 (bitsandbytes' and
  transformers' default). A 4-bit linear layer dequantizes its weight before the matmul, so the
  round trip is the model a 4-bit load computes with (in fp32 here rather than a 16-bit compute dtype).
- ``int8``: LLM.int8's row-wise absmax weight quantization (``int8_vectorwise_quant`` /
  ``int8_vectorwise_dequant``). Weight-only: LLM.int8's matmul also keeps activation outlier
  columns in 16 bits, and that mixed-precision path has no CPU kernel, so it is not simulated.

As transformers does, the output layer (``lm_head``, or the tied embedding) stays in full precision.
"""

from __future__ import annotations

import logging

import torch
from transformers import PreTrainedModel

log = logging.getLogger(__name__)
QUANTIZATIONS = ("nf4", "fp4", "int8")
BLOCKSIZE = 64


def round_trip(weight: torch.Tensor, kind: str, blocksize: int = BLOCKSIZE) -> torch.Tensor:
    """``weight`` quantized to ``kind`` and back, by bitsandbytes, in the weight's dtype."""
    import bitsandbytes.functional as bnb

    if kind in ("nf4", "fp4"):
        packed, state = bnb.quantize_4bit(weight.float(), blocksize=blocksize, quant_type=kind)
        return bnb.dequantize_4bit(packed, state).to(weight.dtype)
    if kind == "int8":
        quantized, row_stats, _ = bnb.int8_vectorwise_quant(weight.half())
        return bnb.int8_vectorwise_dequant(quantized, row_stats).to(weight.dtype)
    raise ValueError(f"unknown quantization '{kind}' (known: {', '.join(QUANTIZATIONS)})")


@torch.no_grad()
def quantize_weights(model, kind: str, blocksize: int = BLOCKSIZE) -> dict:
    """Replace every linear layer's weight (not the output layer's) by its ``kind`` round trip, in
    place; returns how many layers changed and the mean relative change ``mean|W' - W| / mean|W|``."""
    # every model's output layer (a manifest model holds two) stays in full precision
    outputs = [m.get_output_embeddings() for m in model.modules() if isinstance(m, PreTrainedModel)]
    skipped = {id(output.weight) for output in outputs if output is not None}
    layers, change = 0, 0.0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and id(module.weight) not in skipped:
            original = module.weight.data
            quantized = round_trip(original, kind, blocksize)
            change += ((quantized - original).abs().mean() / original.abs().mean().clamp(min=1e-12)).item()
            module.weight.data.copy_(quantized)
            layers += 1
    return {"quantization": kind, "layers": layers, "mean_relative_change": change / max(1, layers),
            "blocksize": blocksize if kind != "int8" else None}


def quantize_attack(model, kind: str) -> dict:
    """The quantization attacks' step: ``model``'s weights rounded to ``kind`` in place (the runner
    restores them after the evaluation); returns the details the summary keeps."""
    change = quantize_weights(model, kind)
    log.info("quantized to %s: %d linear layers rounded, mean relative weight change %.4f", kind, change["layers"],
             change["mean_relative_change"])
    return change
