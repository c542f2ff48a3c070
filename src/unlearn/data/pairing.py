"""Forget/retain pairs: an epoch runs over the forget set, each item with one retain item.

A method may need several encodings of the same record (the true answer, a refusal, a
mismatched answer): these are *streams*, aligned by index. Forget streams are indexed by the
forget item; retain streams by its retain partner, a seeded permutation of the retain set
cycled when the forget set is larger, so every retain item is used before any is repeated.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch

from unlearn.data.collate import pad_batch


class ForgetRetainDataset(torch.utils.data.Dataset):
    """Item ``i``: ``{forget stream: forget[i], retain stream: retain[pairing[i]], "index": i}``."""

    def __init__(self, forget: dict[str, Sequence], retain: dict[str, Sequence] | None = None, seed: int = 0):
        lengths = {len(stream) for stream in forget.values()}
        if len(lengths) != 1:
            raise ValueError("forget streams must have the same length")
        self.size = lengths.pop()
        if self.size == 0:
            raise ValueError("the forget set is empty")
        self.forget = forget
        self.retain = retain or {}
        retain_sizes = {len(stream) for stream in self.retain.values()}
        if 0 in retain_sizes:
            raise ValueError("the retain set is empty")
        self.pairing = cycled_permutation(self.size, retain_sizes.pop(), seed) if retain_sizes else None

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        item = {name: stream[index] for name, stream in self.forget.items()}
        for name, stream in self.retain.items():
            item[name] = stream[self.pairing[index]]
        item["index"] = index
        return item


class PairCollator:
    """Pads every stream of a batch separately (right padding); ``index`` becomes a tensor."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[dict]) -> dict:
        batch = {name: pad_batch([item[name] for item in items], self.pad_token_id)
                 for name in items[0] if name != "index"}
        batch["index"] = torch.tensor([item["index"] for item in items], dtype=torch.long)
        return batch


def cycled_permutation(length: int, pool: int, seed: int) -> list[int]:
    """``length`` indices into ``range(pool)``: shuffled blocks of the whole pool, one after another."""
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < length:
        block = list(range(pool))
        rng.shuffle(block)
        order.extend(block)
    return order[:length]
