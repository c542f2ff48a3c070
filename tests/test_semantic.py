"""Cosine similarity and entailment: the pure functions by hand, the model runners on real and
tiny models."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import tiny_nli
from unlearn.evaluation.semantic import MetricUnavailable, cosine_similarities, load_embedder, load_nli
from unlearn.metrics.semantic import cosine_score, entailment_score


def test_cosine_score_by_hand():
    assert cosine_score([1, 0], [1, 1]) == pytest.approx(1 / math.sqrt(2))
    assert cosine_score([2, 0], [5, 0]) == pytest.approx(1.0)
    assert cosine_score([1, 0], [-1, 0]) == 0.0  # negative cosine is clipped to 0
    assert math.isnan(cosine_score([0, 0], [1, 0]))


def test_entailment_score_by_hand():
    # third pair is entailed but shares almost no words with the reference: not counted
    assert entailment_score([True, False, True, True], [0.5, 0.9, 0.05, 0.1]) == pytest.approx(2 / 4)
    assert math.isnan(entailment_score([], []))
    with pytest.raises(ValueError):
        entailment_score([True], [0.5, 0.5])


def test_packaged_embedder_ranks_a_paraphrase_above_an_unrelated_sentence():
    embedder = load_embedder()
    assert load_embedder() is embedder  # loaded once per process
    same, paraphrase, unrelated = cosine_similarities(
        embedder, ["Ada was born in London.", "Ada was born in London.", "Ada was born in London."],
        ["Ada was born in London.", "London is where Ada was born.", "The stock market fell sharply today."])
    assert same == pytest.approx(1.0, abs=1e-5)
    assert paraphrase > 0.8 > unrelated
    with pytest.raises(ValueError):
        cosine_similarities(embedder, ["a", "b"], ["a"])


PREMISES = ["Ada was born in London.", "Paavo is a poet of the sea.", "Who?"]
HYPOTHESES = ["Ada was born in 1815 in London.", "Paavo wrote about the sea.", "The capital of France is Paris."]


def test_nli_model_labels_pairs_in_batches(tmp_path):
    nli = load_nli(str(tiny_nli(tmp_path / "nli")), "cpu")
    assert load_nli(str(tmp_path / "nli"), "cpu") is nli  # loaded once per process
    labels = nli.entails(PREMISES, HYPOTHESES, batch_size=2)
    assert len(labels) == 3 and all(isinstance(label, bool) for label in labels)
    assert labels == [nli.entails([p], [h], batch_size=1)[0] for p, h in zip(PREMISES, HYPOTHESES)]
    bias = nli.model.classifier.bias
    with torch.no_grad():
        bias.zero_()
        bias[0] = 100.0  # entailment always wins
    assert nli.entails(PREMISES, HYPOTHESES) == [True, True, True]
    with torch.no_grad():
        bias.zero_()
        bias[2] = 100.0  # contradiction always wins
    assert nli.entails(PREMISES, HYPOTHESES) == [False, False, False]
    with pytest.raises(ValueError):
        nli.entails(PREMISES, HYPOTHESES[:2])


def test_not_entailment_is_not_the_entailment_label(tmp_path):
    nli = load_nli(str(tiny_nli(tmp_path / "rte", labels=("not_entailment", "entailment"), always=1)), "cpu")
    assert nli.entailment_index == 1
    assert nli.entails(PREMISES, HYPOTHESES) == [True, True, True]


def test_unavailable_nli_models_say_why(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(MetricUnavailable, match="no-such-model"):
        load_nli(str(missing), "cpu")
    with pytest.raises(MetricUnavailable, match="no-such-model"):
        load_embedder(str(missing), "cpu")
    (tmp_path / "weights.bin").write_text("")
    with pytest.raises(MetricUnavailable, match="not a folder"):
        load_nli(str(tmp_path / "weights.bin"), "cpu")
    with pytest.raises(MetricUnavailable, match="no entailment label"):
        load_nli(str(tiny_nli(tmp_path / "sentiment", labels=("negative", "positive"))), "cpu")


def test_an_unreachable_hub_fails_fast_with_the_reason(monkeypatch):
    from unlearn.evaluation import semantic

    monkeypatch.setattr(semantic, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(MetricUnavailable, match="someone/nli-model-not-cached.*offline"):
        semantic.load_nli.__wrapped__("someone/nli-model-not-cached", "cpu")
    with pytest.raises(MetricUnavailable, match="embedder-not-cached.*offline"):
        semantic.load_embedder.__wrapped__("embedder-not-cached", "cpu")
