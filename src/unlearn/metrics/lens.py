"""Pure pieces of the logit lens: where the fact starts among the answer tokens, a token's rank, and
the layer chosen on held-out questions."""

from __future__ import annotations

import numpy as np
import torch


def token_rank(logits: torch.Tensor, token: int) -> int:
    """``1 + #{v : logits[v] > logits[token]}``: 1 = the likeliest token; ties do not count against it."""
    return 1 + int((logits > logits[token]).sum())


def covering_token(pieces: list[str], char: int) -> int | None:
    """Index of the token whose text covers character ``char`` of the concatenated ``pieces``
    (the decoded answer tokens): the least k with ``len(pieces[0]) + ... + len(pieces[k]) > char``;
    None when ``char`` is past the end (the fact was cut off by truncation)."""
    end = 0
    for index, piece in enumerate(pieces):
        end += len(piece)
        if char < end:
            return index
    return None


def held_out_layer(values: np.ndarray, seed: int) -> tuple[int, np.ndarray] | None:
    """The decoding layer chosen on other questions than those it is reported on.

    ``values[i, l]``: question i's score at layer l (higher: more of the answer). The questions whose
    scores are all finite are split at random (``seed``) into a choice half, the first
    ``floor(n / 2)``, and a report half, the rest. Returns ``(l*, report rows)`` with
    ``l* = argmax_l mean_{i in choice} values[i, l]`` (ties: the lower layer). Choosing the best layer
    on the questions it then reports makes the best layer's mean at least the last layer's on any
    data, a selection bias with no knowledge behind it; on held-out questions, a layer that is no
    better in truth is no better on average. None when fewer than 2 questions are usable."""
    values = np.asarray(values, dtype=float)
    usable = np.flatnonzero(np.isfinite(values).all(axis=1))
    if usable.size < 2:
        return None
    shuffled = np.random.default_rng(seed).permutation(usable)
    choose, report = shuffled[:usable.size // 2], np.sort(shuffled[usable.size // 2:])
    return int(np.argmax(values[choose].mean(axis=0))), report
