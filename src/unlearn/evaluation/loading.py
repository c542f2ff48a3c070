"""The models an evaluation runs: the evaluated model (loaded, or one already in memory) and the
semantic models of cosine similarity and the entailment score."""

from __future__ import annotations

import logging

from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.evaluation.evaluator import SemanticModels
from unlearn.evaluation.semantic import MetricUnavailable, load_embedder, load_nli
from unlearn.models.loading import ensure_pad_token, load_model

log = logging.getLogger(__name__)


def evaluated_model(settings: EvalSettings, in_memory: tuple | None = None) -> tuple:
    """``(model, tokenizer)``: ``in_memory`` as it is (its pad token ensured), else the model of
    ``settings`` loaded with its device, dtype and loading settings."""
    if in_memory:
        return in_memory[0], ensure_pad_token(in_memory[1], settings.model)
    return load_model(settings.model, settings.dtype, settings.device, settings.trust_remote_code,
                      settings.allow_pickle)


def load_semantic_models(embedder: str | None, nli_model: str | None, device: str) -> SemanticModels:
    """Load what is available; an unavailable model leaves its metric not computed, with the reason.
    ``None`` skips a model on purpose; ``embedder="packaged"`` is the packaged all-MiniLM-L6-v2."""
    semantic = SemanticModels()
    if embedder is None:
        semantic.embedder_missing = "disabled (--embedder none)"
    else:
        try:
            source = None if embedder == "packaged" else embedder
            semantic.embedder, semantic.embedder_missing = load_embedder(source, device), None
        except MetricUnavailable as error:
            semantic.embedder_missing = str(error)
            log.warning("cosine similarity will not be computed: %s", error)
    if nli_model is None:
        semantic.nli_missing = "disabled (--nli-model none)"
        return semantic
    try:
        semantic.nli, semantic.nli_missing = load_nli(nli_model, device), None
    except MetricUnavailable as error:
        semantic.nli_missing = str(error)
        log.warning("entailment score will not be computed: %s", error)
    return semantic
