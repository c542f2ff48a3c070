"""Pure pieces of the logit lens: where the fact starts among the answer tokens, and a token's rank."""

from __future__ import annotations

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
