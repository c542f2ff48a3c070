"""Meta-evaluation: rank the unlearning metrics themselves, as OpenUnlearning does (arXiv 2506.12618, Section 4).

Light and pure (the standard library; nothing heavy is imported): a metric is judged by its values on a pool of
models, not by running any. ``faithfulness`` is the AUC with which a metric separates models that know the forget
data from models that never saw it; ``relearning_robustness`` and ``quantization_robustness`` say how far its
verdict moves under an attack; ``rank_metrics`` turns a table ``{metric: {model_id: value}}`` into JSON-ready rows.
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
