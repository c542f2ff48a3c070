"""Meta-evaluation math (issue 29, item 5) against numbers worked out by hand and against reference AUCs."""

import json
from fractions import Fraction

import pytest
from scipy.stats import mannwhitneyu

from unlearn.errors import UserError
from unlearn.metaeval import (
    Attack,
    MetaEvalError,
    faithfulness,
    harmonic_mean,
    quantization_robustness,
    rank_metrics,
    relearning_robustness,
    robustness,
)

# A pool of six models: three that know the forget data (targets), three that never saw it (retain models).
KNOWS = {"t1": True, "t2": True, "t3": True, "r1": False, "r2": False, "r3": False}
# prob (higher = knows): 0.5 vs 0.5 is the one tie. Pairs won: 0.9 -> 3, 0.7 -> 3, 0.5 -> 2 + 1/2: AUC 8.5/9.
PROB = {"t1": 0.9, "t2": 0.7, "t3": 0.5, "r1": 0.5, "r2": 0.3, "r3": 0.1}
# loss (lower = knows): oriented -1, -2, -3 vs -2, -4, -5. Pairs won: 3, 2 + 1/2, 2: AUC 7.5/9.
LOSS = {"t1": 1.0, "t2": 2.0, "t3": 3.0, "r1": 2.0, "r2": 4.0, "r3": 5.0}


def reference_auc(positives, negatives):
    """sklearn's ROC AUC where sklearn is installed, else the Mann-Whitney U of the positives over |P| |N|."""
    try:
        from sklearn.metrics import roc_auc_score
    except ImportError:
        return mannwhitneyu(positives, negatives).statistic / (len(positives) * len(negatives))
    return roc_auc_score([1] * len(positives) + [0] * len(negatives), [*positives, *negatives])


def test_faithfulness_by_hand_with_a_tie():
    assert faithfulness([0.9, 0.7, 0.5], [0.5, 0.3, 0.1]) == pytest.approx(8.5 / 9)
    assert faithfulness([0.2, 0.6, 0.4], [0.4, 0.5, 0.1]) == pytest.approx(5.5 / 9)


def test_faithfulness_direction_flips_the_ranking_but_ties_stay_half():
    assert faithfulness([0.9, 0.7, 0.5], [0.5, 0.3, 0.1], "lower") == pytest.approx(0.5 / 9)
    assert faithfulness([1.0, 2.0, 3.0], [2.0, 4.0, 5.0], "lower") == pytest.approx(7.5 / 9)
    assert faithfulness([1.0, 1.0], [1.0]) == 0.5


@pytest.mark.parametrize(("positives", "negatives"), [
    ([0.9, 0.7, 0.5], [0.5, 0.3, 0.1]),
    ([0.2, 0.6, 0.4], [0.4, 0.5, 0.1]),
    ([3.0, 1.0, 2.0, 2.0, 5.0], [2.0, 2.0, 0.5, 4.0]),
    ([0.1], [0.9]),
])
def test_faithfulness_matches_the_reference_auc_and_mann_whitney(positives, negatives):
    ours = faithfulness(positives, negatives)
    assert ours == pytest.approx(reference_auc(positives, negatives))
    u = mannwhitneyu(positives, negatives).statistic
    assert ours == pytest.approx(u / (len(positives) * len(negatives)))


@pytest.mark.parametrize(("positives", "negatives", "counts"), [([], [0.1], "0 that know"),
                                                                ([0.1, 0.2], [], "0 that never saw")])
def test_faithfulness_refuses_an_empty_side(positives, negatives, counts):
    with pytest.raises(ValueError, match=counts) as caught:
        faithfulness(positives, negatives)
    assert isinstance(caught.value, UserError)
    assert "\n" not in str(caught.value)


def test_faithfulness_refuses_an_unknown_direction():
    with pytest.raises(MetaEvalError, match="'higher' or 'lower'"):
        faithfulness([1.0], [0.0], "up")



def test_faithfulness_refuses_a_value_that_is_no_number():
    # nan compares false with everything: counted, it would lose every pair (AUC 0 here) without being measured
    with pytest.raises(MetaEvalError, match="nan"):
        faithfulness([float("nan")], [0.0])

def test_relearning_robustness_by_hand():
    # retain moves +0.2; unlearned +0.4 -> 0.5; +0.1 -> 2 capped to 1; no move -> 1; opposite move kept negative.
    assert relearning_robustness(0.2, 0.6, 0.1, 0.3) == pytest.approx(0.5)
    assert relearning_robustness(0.1, 0.2, 0.1, 0.3) == 1.0
    assert relearning_robustness(0.3, 0.3, 0.1, 0.3) == 1.0
    assert relearning_robustness(3.0, 3.5, 5.0, 4.0) == pytest.approx(-2.0)
    # the ratio does not depend on the orientation: negate everything, same R
    assert relearning_robustness(-0.2, -0.6, -0.1, -0.3) == pytest.approx(0.5)


def test_quantization_robustness_by_hand():
    assert quantization_robustness(0.2, 0.1) == pytest.approx(0.5)
    assert quantization_robustness(0.1, 0.15) == 1.0
    assert quantization_robustness(0.4, 0.3) == pytest.approx(0.75)
    assert quantization_robustness(2.0, 4.0, "lower") == pytest.approx(0.5)  # a loss that rises: less knowledge
    assert quantization_robustness(2.0, 1.0, "lower") == 1.0
    assert quantization_robustness(0.0, 0.0) == 1.0
    with pytest.raises(MetaEvalError, match="non-negative"):
        quantization_robustness(-0.1, 0.2)


def test_harmonic_mean_and_combined_robustness():
    assert harmonic_mean([0.5, 1.0]) == pytest.approx(2 / 3)
    assert harmonic_mean([0.0, 1.0]) == 0.0
    assert harmonic_mean([-0.2, 1.0]) == 0.0
    # mean R = (0.5 + 1 + 1) / 3 = 5/6, mean Q = (0.5 + 1 + 0.75) / 3 = 3/4, HM = 15/19
    assert robustness([0.5, 1.0, 1.0], [0.5, 1.0, 0.75]) == pytest.approx(15 / 19)
    with pytest.raises(MetaEvalError, match="no attacked models"):
        robustness([], [1.0])


RELEARN = Attack(
    before={"prob": {"retain": 0.1, "u1": 0.2, "u2": 0.1, "u3": 0.3},
            "loss": {"retain": 5.0, "u1": 4.0, "u2": 4.0, "u3": 3.0}},
    after={"prob": {"retain": 0.3, "u1": 0.6, "u2": 0.2, "u3": 0.3},
           "loss": {"retain": 4.0, "u1": 2.0, "u2": 3.0, "u3": 3.5}},
)
QUANT = Attack(
    before={"prob": {"u1": 0.2, "u2": 0.1, "u3": 0.4}, "loss": {"u1": 2.0, "u2": 2.0, "u3": 3.0}},
    after={"prob": {"u1": 0.1, "u2": 0.15, "u3": 0.3}, "loss": {"u1": 4.0, "u2": 1.0, "u3": 3.0}},
)


def test_rank_metrics_by_hand():
    rows = rank_metrics({"prob": PROB, "loss": LOSS}, KNOWS, {"prob": "higher", "loss": "lower"},
                        relearning=RELEARN, retain_id="retain", quantization=QUANT)
    assert [row["metric"] for row in rows] == ["prob", "loss"]
    prob, loss = rows
    faith = Fraction(17, 18)
    robust = Fraction(15, 19)  # HM(mean R 5/6, mean Q 3/4)
    assert prob == pytest.approx({"metric": "prob", "direction": "higher", "faithfulness": float(faith),
                                  "relearning": 5 / 6, "quantization": 0.75, "robustness": float(robust),
                                  "overall": float(2 * faith * robust / (faith + robust)), "rank": 1})
    assert prob["overall"] == pytest.approx(510 / 593)
    # loss: R = 0.5, 1, -2 (mean -1/6); Q = 0.5, 1, 1 (mean 5/6); a negative mean R makes robustness 0
    assert loss == pytest.approx({"metric": "loss", "direction": "lower", "faithfulness": 7.5 / 9,
                                  "relearning": -1 / 6, "quantization": 5 / 6, "robustness": 0.0, "overall": 0.0,
                                  "rank": 2})
    assert json.loads(json.dumps(rows)) == rows


def test_rank_metrics_without_attacks_ranks_by_faithfulness_and_shares_ties():
    same = dict(PROB)
    rows = rank_metrics({"b": same, "a": PROB, "loss": LOSS}, KNOWS, {"a": "higher", "b": "higher", "loss": "lower"})
    assert [(row["metric"], row["rank"]) for row in rows] == [("a", 1), ("b", 1), ("loss", 3)]
    assert rows[0]["overall"] == pytest.approx(8.5 / 9)
    assert rows[0]["robustness"] is None and rows[0]["relearning"] is None and rows[0]["quantization"] is None


def test_rank_metrics_with_one_attack_uses_it_alone():
    rows = rank_metrics({"prob": PROB}, KNOWS, {"prob": "higher"}, quantization=QUANT)
    assert rows[0]["robustness"] == pytest.approx(0.75)
    assert rows[0]["overall"] == pytest.approx(2 * (17 / 18) * 0.75 / (17 / 18 + 0.75))


def test_rank_metrics_refuses_holes_and_missing_settings():
    with pytest.raises(MetaEvalError, match="no value for model"):
        rank_metrics({"prob": {k: v for k, v in PROB.items() if k != "r2"}}, KNOWS, {"prob": "higher"})
    with pytest.raises(MetaEvalError, match="no direction"):
        rank_metrics({"prob": PROB}, KNOWS, {})
    with pytest.raises(MetaEvalError, match="retain_id"):
        rank_metrics({"prob": PROB}, KNOWS, {"prob": "higher"}, relearning=RELEARN)
    with pytest.raises(MetaEvalError, match="no retain model"):
        rank_metrics({"prob": PROB}, KNOWS, {"prob": "higher"}, relearning=RELEARN, retain_id="nope")
    lopsided = Attack(before={"prob": {"u1": 0.2, "u2": 0.1}}, after={"prob": {"u1": 0.1}})
    with pytest.raises(MetaEvalError, match="one side of the attack"):
        rank_metrics({"prob": PROB}, KNOWS, {"prob": "higher"}, quantization=lopsided)
    with pytest.raises(MetaEvalError, match="positives|at least one model"):
        rank_metrics({"prob": PROB}, {"t1": True}, {"prob": "higher"})
