"""How every evaluation pass walks its inputs: in length-sorted batches.

Sorting by length keeps the padding in each batch small; the indices let each pass put its results
back in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


def length_sorted_batches(count: int, batch_size: int, length: Callable[[int], int] | None = None,
                          max_tokens: int | None = None) -> Iterator[list[int]]:
    """Indices ``0..count-1`` in batches of at most ``batch_size``, shortest first (``length=None``:
    input order). With ``max_tokens``, a batch also stops before ``rows x its longest length`` would
    exceed it (one item always fits)."""
    order = sorted(range(count), key=length) if length is not None else list(range(count))
    batch: list[int] = []
    for index in order:
        if batch and (len(batch) == batch_size
                      or (max_tokens is not None and (len(batch) + 1) * length(index) > max_tokens)):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch
