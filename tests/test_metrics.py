"""Metric functions against hand-worked values."""

from __future__ import annotations

import math
import zlib

import pytest
from scipy import stats

from unlearn.metrics import likelihood, privacy, text


def test_rouge_recall_counts_reference_words_found():
    # reference "Ada was born in London" (5 words); generation has 4 of them in order
    scores = text.rouge_recall("Ada was born in Paris", "Ada was born in London")
    assert scores["rougeL_recall"] == pytest.approx(4 / 5)
    assert scores["rouge1_recall"] == pytest.approx(4 / 5)
    assert text.rouge_recall("London", "London")["rougeL_recall"] == 1.0


def test_token_entropy_by_hand():
    assert text.token_entropy([1, 2, 3, 4]) == pytest.approx(1.0)  # 4 distinct: log2 4 / log2 4
    assert text.token_entropy([7, 7, 7, 7]) == 0.0
    # [a, a, b, c]: -(1/2 log2 1/2 + 2 * 1/4 log2 1/4) = 1.5 bits; / log2 4 = 0.75
    assert text.token_entropy(["a", "a", "b", "c"]) == pytest.approx(0.75)
    assert text.token_entropy([5]) == 0.0 and text.token_entropy([]) == 0.0


def test_probabilities():
    assert likelihood.probability(math.log(2)) == pytest.approx(0.5)
    # p = 1/2 for the answer, 1/4 and 1/4 for two options: 0.5 / (0.5 + 0.25 + 0.25) = 0.5
    assert likelihood.normalized_probability(math.log(2), [math.log(4), math.log(4)]) == pytest.approx(0.5)


def test_truth_ratio_and_its_two_aggregations():
    r = likelihood.truth_ratio(1.0, [2.0, 4.0])  # exp(3 - 1) = e^2
    assert r == pytest.approx(math.e ** 2)
    # forget: mean min(R, 1/R) over R = 2 and R = 1/4 -> (1/2 + 1/4) / 2
    assert likelihood.truth_ratio_score([2.0, 0.25], "forget") == pytest.approx(0.375)
    # other splits: mean max(0, 1 - 1/R) -> (1/2 + 0) / 2
    assert likelihood.truth_ratio_score([2.0, 0.25], "retain") == pytest.approx(0.25)


def test_forget_quality_is_the_ks_p_value():
    a, b = [0.1, 0.2, 0.3, 0.4, 0.5], [0.35, 0.6, 0.7, 0.8, 0.9]
    assert likelihood.forget_quality(a, b) == pytest.approx(stats.ks_2samp(a, b).pvalue)
    assert likelihood.forget_quality(a, a) == pytest.approx(1.0)


def test_harmonic_mean_with_zero_and_not_computed():
    assert likelihood.harmonic_mean([1.0, 0.5]) == pytest.approx(2 / (1 + 2))
    assert likelihood.harmonic_mean([0.5, 0.0, 0.9]) == 0.0
    assert math.isnan(likelihood.harmonic_mean([0.5, math.nan]))


def test_forget_efficacy():
    assert likelihood.forget_efficacy([0.2, 0.4, 0.6, 0.8, 1.0]) == pytest.approx(0.4)


def test_mia_scores_by_hand():
    assert privacy.loss_score(1.25) == 1.25
    logps = [-0.1, -3.0, -0.5, -2.0, -0.2]
    assert privacy.min_k_score(logps, k=0.4) == pytest.approx(2.5)  # int(0.4 * 5) = 2 lowest: -3, -2
    assert privacy.min_k_score(logps, k=0.01) == pytest.approx(3.0)  # int(0.05) = 0 -> at least one token
    # z = (logp - mu) / sigma with mu = -1, sigma = 2: [0.45, -1, 0.25, -0.5, 0.4]; lowest 2 -> mean -0.75
    assert privacy.min_k_plus_plus_score(logps, [-1.0] * 5, [2.0] * 5, k=0.4) == pytest.approx(0.75)


def test_zlib_score_is_the_mean_nll_over_the_compressed_bytes():
    text_ = "Ada was born in London."  # 23 ASCII characters
    # zlib: 2 header bytes + one fixed-Huffman deflate block (3 header bits, 23 literals of 8 bits,
    # 7-bit end code: 194 bits -> 25 bytes) + 4 bytes Adler-32 = 31 bytes
    assert len(zlib.compress(text_.encode("utf-8"))) == 31
    token_logprobs = [-1.0, -2.0, -3.0]  # mean NLL 2 (the sum, 6, is not what is divided)
    assert privacy.zlib_score(2.0, text_) == pytest.approx(2.0 / 31)

    from unlearn.evaluation.evaluator import _likelihood_values
    from unlearn.evaluation.likelihood import SequenceScore
    from unlearn.evaluation.splits import EvalSplit

    record = {"question": "Where was Ada born?", "answer": text_}
    score = SequenceScore(tuple(token_logprobs), (0, 0, 0), (1, 2, 3), (-1.0,) * 3, (1.0,) * 3)
    values = _likelihood_values(EvalSplit("holdout", "holdout", [record]),
                                record, {(record["question"], text_): score}, 0.2)
    assert values["mia_zlib"] == pytest.approx(2.0 / 31)  # the evaluator passes the mean NLL


def test_min_k_count_is_truncated_with_at_least_one_token():
    # the lowest int(k * n) log-probs (floor, as open-unlearning), never fewer than one
    seven = [-7.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0]
    assert privacy.min_k_score(seven, k=0.2) == pytest.approx(7.0)  # int(1.4) = 1: only -7 (ceil took -7, -6)
    ten = [-float(i) for i in range(1, 11)]
    assert privacy.min_k_score(ten, k=0.2) == pytest.approx(9.5)  # int(2.0) = 2: -10, -9
    assert privacy.min_k_score([-1.0, -4.0, -2.0], k=0.2) == pytest.approx(4.0)  # int(0.6) = 0 -> 1: -4
    assert privacy.min_k_score([-1.0, -4.0, -2.0, -8.0, -3.0], k=0.5) == pytest.approx(6.0)  # int(2.5) = 2
    # Min-K%++ counts the same way: z = logp with mu = 0, sigma = 1
    assert privacy.min_k_plus_plus_score(seven, [0.0] * 7, [1.0] * 7, k=0.2) == pytest.approx(7.0)
    # mu = -1, sigma = 2 on ten: z = (logp + 1) / 2, lowest two (-10, -9) -> -4.5, -4 -> 4.25
    assert privacy.min_k_plus_plus_score(ten, [-1.0] * 10, [2.0] * 10, k=0.2) == pytest.approx(4.25)


def test_auc_on_known_rankings():
    assert privacy.auc([0.1, 0.2], [0.8, 0.9]) == 1.0  # members all score lower
    assert privacy.auc([0.8, 0.9], [0.1, 0.2]) == 0.0
    # pairs (member, nonmember): (0.1,0.15) yes, (0.1,0.3) yes, (0.2,0.15) no, (0.2,0.3) yes -> 3/4
    assert privacy.auc([0.1, 0.2], [0.15, 0.3]) == pytest.approx(0.75)
    assert privacy.auc([0.5], [0.5]) == pytest.approx(0.5)  # a tie counts one half


def test_priv_leak():
    assert privacy.priv_leak(0.6, 0.5) == pytest.approx(0.2)
    assert privacy.priv_leak(0.5, 0.5) == 0.0
    assert math.isnan(privacy.priv_leak(0.3, 0.0))


def test_memorization_of_answer_tokens():
    target = [5, 6, 7, 8]
    assert privacy.exact_memorization([5, 0, 7, 8], target) == 0.75
    assert privacy.extraction_strength([5, 6, 7, 8], target) == 1.0
    assert privacy.extraction_strength([5, 0, 7, 8], target) == pytest.approx(1 - 2 / 4)  # suffix from index 2
    assert privacy.extraction_strength([5, 6, 7, 0], target) == 0.0


def test_refusal_rate_by_hand():
    refusals = ["I don't know.", "I'm not sure!"]
    answers = ["I don't know who that is.", "i'm NOT sure", "Paris.", "Maybe I don't know."]
    # first two open with a refusal (case and final punctuation ignored); the last only contains one
    assert text.refusal_rate(answers, refusals) == pytest.approx(2 / 4)
