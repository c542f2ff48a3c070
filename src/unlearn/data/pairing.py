"""Forget/retain pairs: an epoch runs over the forget set, each item with one retain item.

The pairing is a seeded permutation of the retain set, cycled when the forget set is larger,
so a run is reproducible and every retain item is used before any is used twice.
"""

from __future__ import annotations

import random

import torch

from unlearn.data.collate import pad_batch


class ForgetRetainDataset(torch.utils.data.Dataset):
    """Item ``i`` is ``{"forget": forget[i], "retain": retain[pairing[i]]}`` (no retain key if none)."""

    def __init__(self, forget, retain=None, seed: int = 0):
        if len(forget) == 0:
            raise ValueError("the forget set is empty")
        self.forget = forget
        self.retain = retain
        if retain is not None and len(retain) == 0:
            raise ValueError("the retain set is empty")
        self.pairing = _cycled_permutation(len(forget), len(retain), seed) if retain is not None else None

    def __len__(self) -> int:
        return len(self.forget)

    def __getitem__(self, index: int) -> dict:
        item = {"forget": self.forget[index], "index": index}
        if self.retain is not None:
            item["retain"] = self.retain[self.pairing[index]]
        return item


class PairCollator:
    """Pads the forget and retain halves of a batch separately (right padding)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[dict]) -> dict:
        batch = {"forget": pad_batch([i["forget"] for i in items], self.pad_token_id),
                 "index": torch.tensor([i["index"] for i in items], dtype=torch.long)}
        if "retain" in items[0]:
            batch["retain"] = pad_batch([i["retain"] for i in items], self.pad_token_id)
        return batch


def _cycled_permutation(length: int, pool: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < length:
        block = list(range(pool))
        rng.shuffle(block)
        order.extend(block)
    return order[:length]
