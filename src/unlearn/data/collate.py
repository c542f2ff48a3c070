"""Pad token-id lists into batches: right padding for training, left for generation."""

from __future__ import annotations

from typing import Literal

import torch

from unlearn.data.formatting import IGNORE_INDEX


def pad_batch(features: list[dict], pad_token_id: int, side: Literal["right", "left"] = "right") -> dict:
    """Stack ``input_ids``/``attention_mask``/``labels`` lists into padded long tensors."""
    width = max(len(f["input_ids"]) for f in features)
    pad_values = {"input_ids": pad_token_id, "attention_mask": 0, "labels": IGNORE_INDEX}
    batch = {}
    for key, pad_value in pad_values.items():
        if key not in features[0]:
            continue
        rows = []
        for feature in features:
            values = list(feature[key])
            padding = [pad_value] * (width - len(values))
            rows.append(padding + values if side == "left" else values + padding)
        batch[key] = torch.tensor(rows, dtype=torch.long)
    return batch


class PadCollator:
    """A picklable collator for ``transformers.Trainer`` (data loader workers need pickling)."""

    def __init__(self, pad_token_id: int, side: Literal["right", "left"] = "right"):
        self.pad_token_id = pad_token_id
        self.side = side

    def __call__(self, features: list[dict]) -> dict:
        return pad_batch(features, self.pad_token_id, self.side)
