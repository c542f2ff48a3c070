"""A model's train/eval mode for the length of a block, whatever it was before."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def evaluating(*models):
    """The models in eval mode (no dropout) for the block; each back to its own mode after it."""
    modes = [model.training for model in models]
    for model in models:
        model.eval()
    try:
        yield models[0] if len(models) == 1 else models
    finally:
        for model, mode in zip(models, modes):
            model.train(mode)
