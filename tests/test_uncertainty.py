"""Intervals (hand-worked cases: Clopper-Pearson, Wilson, BCa, the percentile fallback) and the
intervals an evaluation writes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from unlearn.evaluation.compare import paired_difference, split_columns
from unlearn.evaluation.evaluator import aggregate, metric_columns
from unlearn.evaluation.splits import EvalSplit
from unlearn.evaluation.summary import summarize, value_from_columns
from unlearn.metrics.uncertainty import bootstrap_interval, excludes, mean_interval, proportion_interval


def test_two_values_zero_and_one_give_the_whole_range_under_the_percentile_bootstrap():
    # resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and 97.5% quantiles are 0 and 1
    assert bootstrap_interval([[0.0, 1.0]], np.mean, method="percentile") == (0.0, 1.0)


def test_zero_of_twenty_gets_the_exact_interval_not_zero_to_zero():
    # Clopper-Pearson for k = 0: high = 1 - (0.025)^(1/20) = 1 - exp(-3.6889 / 20) = 0.16843
    assert mean_interval([0.0] * 20) == pytest.approx((0.0, 0.16843), abs=1e-5)
    assert mean_interval([1.0] * 20) == pytest.approx((0.83157, 1.0), abs=1e-5)  # k = n mirrors k = 0
    # 1 of 2: low = 1 - sqrt(0.975) = 0.012579 (Beta(1, 2) quantile 0.025), high = 1 - low
    assert mean_interval([0.0, 1.0]) == pytest.approx((0.012579, 0.987421), abs=1e-6)
    assert mean_interval([1.0]) == pytest.approx((0.025, 1.0))  # one trial: Beta(1, 1) quantile 0.025
    assert mean_interval([1.0, 0.0, math.nan, 1.0]) == proportion_interval(2, 3)  # nan is not a trial


def test_wilson_score_interval_by_hand():
    # k = 0, n = 20, z = 1.959964: centre (z^2/2n)/(1 + z^2/n) = 0.096037/1.192073 = 0.080563, half-width the same
    assert mean_interval([0.0] * 20, proportion="wilson") == pytest.approx((0.0, 0.161125), abs=1e-6)
    # k = 10: centre 0.5; half = z sqrt(0.25/20 + z^2/1600) / (1 + z^2/20) = 1.96 * 0.122069 / 1.192073 = 0.2007
    low, high = proportion_interval(10, 20, method="wilson")
    assert (low, high) == pytest.approx((0.5 - 0.2007, 0.5 + 0.2007), abs=1e-4)
    with pytest.raises(ValueError, match="unknown proportion interval"):
        proportion_interval(1, 2, method="agresti")


def test_bca_interval_matches_the_formula_worked_from_the_resamples():
    x = np.array([0.05, 0.1, 0.1, 0.15, 0.2, 0.3, 0.45, 0.9, 0.95, 1.0])  # skewed to the right
    resamples = 2000
    boot = stats.bootstrap([x], np.mean, n_resamples=resamples, method="percentile",
                           rng=np.random.default_rng(0)).bootstrap_distribution  # the same resamples (seed 0)
    z0 = stats.norm.ppf((np.sum(boot < x.mean()) + np.sum(boot <= x.mean())) / (2 * resamples))
    jackknife = (x.sum() - x) / (x.size - 1)
    u = (x.size - 1) * (jackknife.mean() - jackknife)
    acceleration = np.sum(u ** 3) / (6 * np.sum(u ** 2) ** 1.5)
    z = stats.norm.ppf([0.025, 0.975])
    levels = stats.norm.cdf(z0 + (z0 + z) / (1 - acceleration * (z0 + z)))
    assert acceleration > 0 and levels[0] > 0.025 and levels[1] > 0.975  # the skew moves both ends up
    bca = bootstrap_interval([x], np.mean, resamples=resamples)
    assert bca == pytest.approx(tuple(np.quantile(boot, levels)))
    assert bootstrap_interval([x], np.mean, resamples=resamples, vectorized=True) == bca
    percentile = bootstrap_interval([x], np.mean, resamples=resamples, method="percentile")
    assert percentile == pytest.approx(tuple(np.quantile(boot, [0.025, 0.975])))
    assert bca[0] > percentile[0] and bca[1] > percentile[1]


def test_where_bca_is_undefined_the_percentile_interval_is_used():
    constant = np.full(5, 0.5)  # no spread: BCa's acceleration is 0/0
    with pytest.warns(stats.DegenerateDataWarning):
        scipy_bca = stats.bootstrap([constant], np.mean, method="BCa", rng=np.random.default_rng(0))
    assert math.isnan(scipy_bca.confidence_interval.low)
    assert bootstrap_interval([constant], np.mean) == (0.5, 0.5)
    # the maximum of [0, 1, 1]: every jackknife value is 1 (acceleration 0/0), yet resamples vary:
    # P(max = 0) = (1/3)^3 = 3.7% > 2.5%, so the percentile interval is [0, 1]
    with pytest.warns(stats.DegenerateDataWarning):
        assert math.isnan(stats.bootstrap([[0.0, 1.0, 1.0]], np.max, method="BCa").confidence_interval.low)
    assert bootstrap_interval([[0.0, 1.0, 1.0]], np.max) == (0.0, 1.0)
    assert bootstrap_interval([[0.0, 1.0, 1.0]], np.max, method="percentile") == (0.0, 1.0)


def test_a_constant_sample_has_no_spread_and_a_single_value_no_interval():
    assert mean_interval([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7))
    assert mean_interval([0.7]) is None
    assert mean_interval([0.7, math.nan]) is None  # nan is not a value


def test_interval_of_a_large_sample_matches_the_normal_approximation():
    values = np.random.default_rng(1).normal(10.0, 2.0, size=400)
    low, high = mean_interval(values, resamples=4000)
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)  # 0.196
    assert low == pytest.approx(values.mean() - half, abs=0.03)
    assert high == pytest.approx(values.mean() + half, abs=0.03)


def test_same_inputs_give_the_same_interval():
    values = np.random.default_rng(2).random(50)
    assert mean_interval(values) == mean_interval(values)
    assert mean_interval(values, seed=1) != mean_interval(values)


def test_independent_samples_are_resampled_separately():
    # x and y are constant, so every resample gives mean(x) - mean(y) = -1
    assert bootstrap_interval([[0.0, 0.0], [1.0, 1.0, 1.0]], lambda x, y: x.mean() - y.mean()) == (-1.0, -1.0)


def test_pairing_removes_the_spread_two_models_share():
    b = np.array([0.0, 1.0, 0.2, 0.8, 0.5, 0.9])
    a = b + 0.3  # the same questions, each exactly 0.3 higher
    paired = bootstrap_interval([a, b], lambda x, y: x.mean() - y.mean(), paired=True)
    assert paired == pytest.approx((0.3, 0.3))
    unpaired = bootstrap_interval([a, b], lambda x, y: x.mean() - y.mean())
    assert unpaired[0] < 0.0 < 0.3 < unpaired[1]


def test_an_evaluation_that_kept_none_of_twenty_facts_gets_an_interval_that_covers():
    examples = [example(f"q{i}", 0.25, False) for i in range(20)]
    result = aggregate(EvalSplit("forget", "forget", []), examples, {}, {"resamples": 500})
    assert result.metrics["fact_accuracy"] == 0.0
    assert result.intervals["fact_accuracy"] == pytest.approx([0.0, 0.16843], abs=1e-5)


def test_excludes():
    assert excludes((0.1, 0.4)) and excludes((-0.5, -0.1)) and not excludes((-0.1, 0.2)) and not excludes(None)


def example(question: str, rouge: float, fact: bool, nll: float = 0.5, ratio: float = 2.0, valid: bool = True) -> dict:
    values = {"question": question, "likelihood_valid": valid, "rougeL_recall": rouge, "rouge1_recall": rouge,
              "token_entropy": 0.9, "generation": "g", "fact": "f", "fact_in_generation": fact}
    if valid:
        values.update(answer_probability=math.exp(-nll), normalized_probability=1 / (1 + nll), truth_ratio=ratio,
                      exact_memorization=rouge, extraction_strength=rouge)
    return values


def split_examples(shift: float = 0.0) -> dict[str, list[dict]]:
    return {role: [example(f"{role} q{i}", min(1.0, 0.2 * i + shift), i % 2 == 0, nll=0.3 * i, ratio=0.5 + i)
                   for i in range(5)] + [example(f"{role} bad", 0.0, False, valid=False)]
            for role in ("forget", "retain", "real_authors", "world_facts")}


def test_split_averages_are_the_means_of_their_columns_and_lie_in_their_intervals():
    examples = split_examples()["retain"]
    result = aggregate(EvalSplit("retain", "retain", []), examples, {}, {"resamples": 500})
    columns = metric_columns(EvalSplit("retain", "retain", []), examples)
    # by hand: ROUGE-L 0, .2, .4, .6, .8 and the invalid example's 0 -> mean 2/6; facts 3 of 6
    assert result.metrics["rougeL_recall"] == pytest.approx(2.0 / 6)
    assert result.metrics["fact_accuracy"] == pytest.approx(0.5)
    # truth ratio (retain form) max(0, 1 - 1/R) over the 5 valid examples, R = 0.5 .. 4.5
    expected = np.mean([max(0.0, 1 - 1 / r) for r in (0.5, 1.5, 2.5, 3.5, 4.5)])
    assert result.metrics["truth_ratio"] == pytest.approx(expected)
    for name, value in result.metrics.items():
        if name in columns and value is not None:
            assert np.nanmean(columns[name]) == pytest.approx(value), name
            low, high = result.intervals[name]
            assert low <= value <= high, name
    assert result.intervals["token_entropy"] == pytest.approx([0.9, 0.9])


def test_model_utility_from_columns_equals_the_summary_and_a_model_against_itself_differs_by_zero():
    examples = split_examples()
    results = {role: aggregate(EvalSplit(role, role, []), rows, {}) for role, rows in examples.items()}
    metrics, _ = summarize(results, None)
    columns = split_columns(examples)
    assert metrics["model_utility_tofu"] > 0
    assert value_from_columns(columns, "overall", "model_utility_tofu") == pytest.approx(metrics["model_utility_tofu"])
    assert paired_difference(examples, examples, "overall", "model_utility_tofu", {}) == (0.0, [0.0, 0.0])


def test_paired_difference_of_a_better_model_excludes_zero():
    better, worse = split_examples(shift=0.3), split_examples()
    difference, interval = paired_difference(better, worse, "retain", "rougeL_recall", {})
    # 0.8 + 0.3 is capped at 1; the invalid row is 0 in both
    assert difference == pytest.approx((4 * 0.3 + 0.2 + 0.0) / 6)
    assert excludes(interval)
    other_questions = {**worse, "retain": [{**e, "question": e["question"] + "?"} for e in worse["retain"]]}
    assert paired_difference(better, other_questions, "retain", "rougeL_recall", {}) is None
