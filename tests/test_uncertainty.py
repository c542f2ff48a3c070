"""Bootstrap intervals (hand-worked cases) and the intervals an evaluation writes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unlearn.evaluation.compare import paired_difference, split_columns
from unlearn.evaluation.evaluator import aggregate, metric_columns
from unlearn.evaluation.splits import EvalSplit
from unlearn.evaluation.summary import summarize, value_from_columns
from unlearn.metrics.uncertainty import bootstrap_interval, excludes, mean_interval


def test_two_values_zero_and_one_give_the_whole_range():
    # resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and 97.5% quantiles are 0 and 1
    assert mean_interval([0.0, 1.0]) == (0.0, 1.0)


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
