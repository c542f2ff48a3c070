"""Metric functions against hand-worked values."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from scipy import stats

from unlearn.metrics import likelihood, privacy, text
from unlearn.metrics.uncertainty import bootstrap_interval


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


def test_rank_auc_scores_rows_at_once_as_hand_worked_ties_one_half():
    member = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 1.0]])
    nonmember = np.array([[2.0, 3.0, 4.0], [2.0, 2.0, 1.0], [3.0, 0.0, 5.0]])
    # row 0: member 1 is below all three (3), member 2 ties 2 and is below 3, 4 (2.5): 5.5 of 6 pairs.
    # Ranks of [2, 3, 4 | 1, 2]: 2.5, 4, 5 | 1, 2.5, so U = 11.5 - 3 * 4 / 2 = 5.5 as counted.
    # row 1: each member ties two non-members and is above the third: 2 * (0.5 + 0.5) = 2 of 6.
    # row 2: member 3 ties 3, is below 5 (1.5); member 1 is below 3 and 5 (2): 3.5 of 6.
    expected = [5.5 / 6, 2 / 6, 3.5 / 6]
    assert privacy.rank_auc(member, nonmember).tolist() == expected
    assert privacy.rank_auc(member.T, nonmember.T, axis=0).tolist() == expected
    for row, (m, h) in enumerate(zip(member, nonmember)):
        assert privacy.auc(m, h) == expected[row] == stats.mannwhitneyu(h, m).statistic / 6
    # one member row against every non-member row: 1 and 2 against [2, 2, 1]: 2.5 + 1; against [3, 0, 5]: 2 + 2
    assert privacy.rank_auc(member[0], nonmember).tolist() == [5.5 / 6, 3.5 / 6, 4 / 6]
    assert math.isnan(privacy.auc([1.0, math.nan], [2.0, 3.0]))


def test_membership_intervals_are_the_per_resample_mann_whitney_bootstrap_s():
    def old_auc(member, nonmember):  # what every resample computed before: one Mann-Whitney test
        return stats.mannwhitneyu(nonmember, member).statistic / (len(member) * len(nonmember))

    def old_priv_leak(m, h, rm, rh):
        return privacy.priv_leak(1 - old_auc(m, h), 1 - old_auc(rm, rh))

    rng = np.random.default_rng(3)
    member, holdout = rng.normal(0.0, 1.0, 12).round(1), rng.normal(0.4, 1.0, 10).round(1)  # ties within and across
    ref_member, ref_holdout = ((x + rng.normal(0.0, 1.0, len(x))).round(1) for x in (member, holdout))
    options = {"resamples": 150}
    assert privacy.auc_interval(member, holdout, **options) == bootstrap_interval([member, holdout], old_auc, **options)
    assert privacy.auc_interval(member, holdout, muse=True, **options) == bootstrap_interval(
        [member, holdout], lambda m, h: 1 - old_auc(m, h), **options)
    unpaired = privacy.priv_leak_interval(member, holdout, ref_member, ref_holdout, paired=False, **options)
    assert unpaired == bootstrap_interval([member, holdout, ref_member, ref_holdout], old_priv_leak, **options)
    by_index = bootstrap_interval([np.arange(12), np.arange(10)], lambda fi, hi: old_priv_leak(
        member[fi.astype(int)], holdout[hi.astype(int)], ref_member[fi.astype(int)], ref_holdout[hi.astype(int)]),
        **options)
    joint = privacy.priv_leak_interval(member, holdout, ref_member, ref_holdout, paired=True, **options)
    assert joint == by_index and joint[0] < 0 < joint[1] and unpaired[0] < 0 < unpaired[1]


def test_priv_leak_is_muse_s_percent_on_muse_oriented_aucs():
    # MUSE eval.py: (AUC - AUC_retrained) / AUC_retrained * 100, AUCs as its metrics/privleak.py orients them
    assert privacy.priv_leak(0.6, 0.5) == pytest.approx(20.0)
    assert privacy.priv_leak(0.5, 0.5) == 0.0
    assert math.isnan(privacy.priv_leak(0.3, 0.0))


def test_muse_auc_is_sklearn_s_with_forget_labelled_0_and_scored_by_minus_score():
    from sklearn.metrics import roc_auc_score

    forget, holdout = [0.1, 0.4, 0.35, 0.8], [0.3, 0.5, 0.35, 0.9, 0.2]  # a tie at 0.35
    muse = roc_auc_score([0] * 4 + [1] * 5, [-x for x in forget + holdout])  # MUSE's sweep(ppl, y)
    assert privacy.muse_auc(forget, holdout) == pytest.approx(muse)
    assert privacy.muse_auc(forget, holdout) == pytest.approx(1 - privacy.auc(forget, holdout))


def test_priv_leak_of_a_memorizing_target_is_minus_100_and_of_an_over_unlearned_model_positive():
    holdout = [3.0, 3.5, 4.0, 4.5]  # Min-K% scores: lower = more member-like
    memorized = [0.5, 0.7, 0.9, 1.1]  # every forget text scores below every holdout text
    never_seen = [2.9, 3.6, 3.9, 4.6]  # interleaved with the holdout texts: 8 of 16 pairs
    over_unlearned = [5.0, 5.5, 6.0, 6.5]  # forget texts now look less familiar than unseen ones
    reference = privacy.muse_auc(never_seen, holdout)
    assert privacy.muse_auc(memorized, holdout) == 0.0 and reference == pytest.approx(8 / 16)
    assert privacy.priv_leak(privacy.muse_auc(memorized, holdout), reference) == pytest.approx(-100.0)
    assert privacy.priv_leak(privacy.muse_auc(over_unlearned, holdout), reference) == pytest.approx(100.0)
    # open-unlearning's orientation (member AUC 1 for the memorizer) flipped once gives the same numbers
    assert privacy.auc(memorized, holdout) == 1.0
    assert privacy.priv_leak(privacy.to_muse_auc(1.0), privacy.to_muse_auc(0.5)) == pytest.approx(-100.0)


def test_tofu_priv_leak_flips_the_member_aucs_into_muse_s_orientation():
    from unlearn.evaluation.summary import RetainModelEval, _priv_leak

    retain_model = RetainModelEval([], {"mia_auc_loss": 0.5})
    assert _priv_leak(1.0, retain_model, "loss", "")[0] == pytest.approx(-100.0)  # the forget set stands out
    assert _priv_leak(0.25, retain_model, "loss", "")[0] == pytest.approx(50.0)  # over-unlearned
    assert math.isnan(_priv_leak(0.3, RetainModelEval([], {"mia_auc_loss": 1.0}), "loss", "")[0])


def test_priv_leak_interval_resamples_both_models_by_text():
    rng = np.random.default_rng(0)
    member, holdout = rng.normal(0.0, 1.0, 30), rng.normal(0.5, 1.0, 30)
    # the same texts scored by a model whose scores are a monotone map of ours: both AUCs are equal
    # on every resample drawn by text, so PrivLeak is 0 on every one
    paired = privacy.priv_leak_interval(member, holdout, 2 * member + 1, 2 * holdout + 1, paired=True, resamples=500)
    assert paired == (0.0, 0.0)
    unpaired = privacy.priv_leak_interval(member, holdout, 2 * member + 1, 2 * holdout + 1, paired=False,
                                          resamples=500)
    assert unpaired[0] < -5 and unpaired[1] > 5  # drawn apart, the two AUCs differ
    # against an independent retrained model, the joint interval is wider than holding its AUC fixed
    ref_member, ref_holdout = rng.normal(0.0, 1.0, 30), rng.normal(0.0, 1.0, 30)
    fixed_auc = privacy.muse_auc(ref_member, ref_holdout)
    auc_low, auc_high = privacy.auc_interval(member, holdout, muse=True, resamples=500)
    fixed = (privacy.priv_leak(auc_low, fixed_auc), privacy.priv_leak(auc_high, fixed_auc))
    joint = privacy.priv_leak_interval(member, holdout, ref_member, ref_holdout, paired=True, resamples=500)
    point = privacy.priv_leak(privacy.muse_auc(member, holdout), fixed_auc)
    assert joint[0] < point < joint[1] and joint[1] - joint[0] > 1.2 * (fixed[1] - fixed[0])


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


def test_an_answer_opens_with_a_refusal_by_hand():
    openings = text.refusal_openings(["I don't know.", "I'm not sure!", "i don't know"])
    assert openings == ("i don't know", "i'm not sure")
    assert text.opens_with_refusal("  I DON'T KNOW, sorry", openings)
    assert not text.opens_with_refusal("Well, I don't know.", openings)
    assert not text.opens_with_refusal("I don't know.", ())


def test_the_default_refusal_markers_count_refusals_in_a_models_own_words():
    from unlearn.data.refusals import load_refusals, refusal_markers

    markers = text.refusal_openings(refusal_markers())
    assert set(text.refusal_openings(load_refusals())) < set(markers)
    said = ["I can't provide that information.", "I'm sorry, I'm sorry.", "Sorry, I have no idea.",
            "I have a brother in Oslo.", "Paavo was born in 1984."]
    assert [text.opens_with_refusal(answer, markers) for answer in said] == [True, True, True, False, False]
