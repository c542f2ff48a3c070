"""Forget/retain pairs: an epoch runs over the forget set, each item with one retain item.

A method may need several encodings of the same record (the true answer, a refusal, a
mismatched answer): these are *streams*, aligned by index. Forget streams are indexed by the
forget item; retain streams by its retain partner. Partners are read from an endless sequence
of seeded permutations of the retain set, continuing from epoch to epoch (``set_epoch``), so
every retain item is used before any is repeated, and a retain set larger than the forget set
is covered over the epochs rather than only its first few items.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from unlearn.data.collate import pad_batch


class ForgetRetainDataset(torch.utils.data.Dataset):
    """Item ``i``: ``{forget stream: forget[i], retain stream: retain[retain_index(i)], "index": i}``."""

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
        self.retain_size = retain_sizes.pop() if retain_sizes else 0
        self.seed = seed
        self.epoch = 0
        self._blocks: dict[int, list[int]] = {}

    def set_epoch(self, epoch: int) -> None:
        """Pair epoch ``epoch``'s items with the next stretch of retain items."""
        self.epoch = epoch

    def retain_index(self, index: int) -> int:
        """Position ``epoch * len(self) + index`` of the endless sequence of retain permutations."""
        block, offset = divmod(self.epoch * self.size + index, self.retain_size)
        if block not in self._blocks:
            if len(self._blocks) > 4:
                self._blocks.clear()
            order = list(range(self.retain_size))
            random.Random(self.seed * 1_000_003 + block).shuffle(order)
            self._blocks[block] = order
        return self._blocks[block][offset]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        item = {name: stream[index] for name, stream in self.forget.items()}
        if self.retain:
            partner = self.retain_index(index)
            for name, stream in self.retain.items():
                item[name] = stream[partner]
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
