"""Meta-evaluation: rank the unlearning metrics themselves, as OpenUnlearning does (arXiv 2506.12618, Section 4).

Light and pure (the standard library; nothing heavy is imported): a metric is judged by its values on a pool of
models, not by running any. ``faithfulness`` is the AUC with which a metric separates models that know the forget
data from models that never saw it; ``relearning_robustness`` and ``quantization_robustness`` say how far its
verdict moves under an attack; ``rank_metrics`` turns a table ``{metric: {model_id: value}}`` into JSON-ready rows.

``unlearn meta-eval`` is built on this math in modules of its own, one job each: ``settings`` (the command's
settings), ``pool`` (the pool file), ``recipe`` (the built-in pool, made by the fictitious scenario's steps),
``measure`` (every model evaluated, every unlearned one attacked, as reusable steps), ``values`` (the numbers read
back from those folders, and which way each metric points), ``table`` (a row per forget metric on the models it
covers), ``outputs`` (the files) and ``run`` (the order of work). Importing ``unlearn.metaeval`` loads the math
only; ``recipe``, ``measure`` and ``run`` import the scenario steps (and with them torch).

Source, honestly: the paper's Section 4.1 text was not available offline when this was written, and
open-unlearning never released its meta-evaluation code (its issue #143). Equations 2-4 are as a third-party
reproduction quotes them (gnueaj/unlearning-depth-score); check them against the paper before a result rests
on them. Open point: which of Eq. 3's two values is "before" (``quantization_robustness`` takes
``min(m_after / m_before, 1)`` for a higher-is-knowledge metric, as that reproduction's code does).
"""

from unlearn.metaeval.faithfulness import MetaEvalError, faithfulness, oriented
from unlearn.metaeval.ranking import Attack, rank_metrics
from unlearn.metaeval.robustness import (
    harmonic_mean,
    quantization_robustness,
    relearning_robustness,
    robustness,
)

__all__ = ["Attack", "MetaEvalError", "faithfulness", "harmonic_mean", "oriented", "quantization_robustness",
           "rank_metrics", "relearning_robustness", "robustness"]
