"""Checkpoint selection rules (issue 29, item 2) on hand-made curves: each rule picks the checkpoint worked out
by hand, says why none qualifies, and the expression parser refuses everything but metric arithmetic."""

from __future__ import annotations

import pytest

from unlearn.config import PartSettings
from unlearn.errors import UserError
from unlearn.selection import Checkpoint, Selection, SelectionRule, registered, rule_list, rules, select
from unlearn.selection.builtin_rules import expression, muse, reach_retain, utility_floor
from unlearn.selection.expression import parse


def point(step: int, knowmem, fact, utility, quality) -> Checkpoint:
    return Checkpoint(step, step / 10, {"muse.knowmem_f": knowmem, "forget.fact_accuracy": fact,
                                        "model_utility_tofu": utility, "forget_quality": quality},
                      {"forget.fact_accuracy": (max(fact - 0.05, 0), fact + 0.05)} if fact is not None else {})


# step: KnowMem forget, fact accuracy, utility, forget quality; the last has no KnowMem (not computed)
CURVE = [point(0, 0.60, 0.90, 0.50, 0.001), point(10, 0.40, 0.50, 0.48, 0.05), point(20, 0.30, 0.20, 0.46, 0.30),
         point(30, 0.25, 0.05, 0.30, 0.60), point(40, None, 0.00, 0.10, 0.90)]


def steps(selection: Selection) -> int | None:
    return selection.checkpoint.step if selection.checkpoint else None


def test_muse_takes_the_first_checkpoint_at_or_below_the_retrained_value():
    chosen = muse(CURVE, retrained=0.30)
    assert steps(chosen) == 20  # 0.30 <= 0.30: equal counts as reached
    assert "muse.knowmem_f 0.3 <= the retrained model's 0.3" in chosen.reason
    assert steps(muse(list(reversed(CURVE)), retrained=0.45)) == 10  # by step, whatever the order given
    none = muse(CURVE, retrained=0.2)
    assert none.checkpoint is None
    assert "lowest: 0.25 at step 30 (epoch 3)" in none.reason


def test_utility_floor_takes_the_best_forget_score_above_the_floor():
    # floor 0.9 x 0.5 = 0.45 keeps steps 0, 10, 20: forget quality highest at step 20
    assert steps(utility_floor(CURVE, target_utility=0.5)) == 20
    # floor 0.5 x 0.5 = 0.25 also keeps step 30, whose fact accuracy (lower is better) is the lowest
    chosen = utility_floor(CURVE, forget_metric="forget.fact_accuracy", better="lower", fraction=0.5,
                           target_utility=0.5)
    assert steps(chosen) == 30
    assert "the lower forget.fact_accuracy (0.05) of the 4 checkpoints with model_utility_tofu >= 0.25" in chosen.reason
    none = utility_floor(CURVE, target_utility=2.0)
    assert none.checkpoint is None and "keeps model_utility_tofu >= 0.9 x 2 = 1.8" in none.reason


def test_utility_floor_judged_by_the_interval_excludes_only_a_loss_beyond_the_noise():
    # floor 0.9 x 0.5 = 0.45: step 30 (0.30, its interval up to 0.47) stays in, step 40 (0.10 [0.0, 0.2]) is out
    wide = [Checkpoint(c.step, c.epoch, c.metrics, {**c.intervals, "model_utility_tofu": (c.value("model_utility_tofu")
                                                                                          - 0.1, high)})
            for c, high in zip(CURVE, (0.6, 0.58, 0.56, 0.47, 0.2))]
    chosen = utility_floor(wide, forget_metric="forget.fact_accuracy", better="lower", target_utility=0.5,
                           judge="interval")
    assert steps(chosen) == 30
    assert "of the 4 checkpoints with model_utility_tofu's interval reaching 0.45" in chosen.reason
    assert steps(utility_floor(wide, forget_metric="forget.fact_accuracy", better="lower", target_utility=0.5)) == 20
    # no interval: the value decides
    assert steps(utility_floor(CURVE, forget_metric="forget.fact_accuracy", better="lower", target_utility=0.5,
                               judge="interval")) == 20
    none = utility_floor(wide, target_utility=2.0, judge="interval")
    assert none.checkpoint is None and none.reason.endswith("= 1.8 within its interval")


def test_utility_floor_ties_go_to_the_earliest_and_missing_values_never_qualify():
    tied = [point(0, 0.5, 0.2, 0.5, 0.4), point(5, 0.5, None, 0.9, 0.9), point(10, 0.5, 0.2, 0.5, 0.4),
            point(15, 0.5, 0.1, None, 0.9)]
    assert steps(utility_floor(tied, forget_metric="forget.fact_accuracy", better="lower", target_utility=0.5)) == 0


def test_reach_retain_takes_the_first_checkpoint_within_the_retain_interval():
    chosen = reach_retain(CURVE, retain_value=0.10, retain_interval=[0.05, 0.15])
    assert steps(chosen) == 30  # 0.05 is the interval's lower end: within
    jumped = reach_retain(CURVE, retain_value=0.12, retain_interval=[0.10, 0.15])
    assert jumped.checkpoint is None  # 0.20 at step 20, then 0.05: the curve jumps over the interval
    assert "closest: 0.05 at step 30" in jumped.reason
    with pytest.raises(UserError, match="outside its interval"):
        reach_retain(CURVE, retain_value=0.3, retain_interval=[0.05, 0.15])
    with pytest.raises(UserError, match="needs its setting 'retain_interval'"):
        reach_retain(CURVE, retain_value=0.1)


def test_expression_condition_takes_the_first_checkpoint_where_it_holds():
    chosen = expression(CURVE, "forget.fact_accuracy < 0.3 and overall.model_utility_tofu > 0.4")
    assert steps(chosen) == 20
    # step 40 has no KnowMem: a condition on a missing value does not hold there, even negated
    assert steps(expression(CURVE, "not muse.knowmem_f > 0.26")) == 30
    assert steps(expression(CURVE, "forget.fact_accuracy < 0.01 and muse.knowmem_f < 1")) is None
    # 1 / 0 at step 40 is not computed; at step 30, 1 / 0.05 = 20 > 5
    assert steps(expression(CURVE, "1 / forget.fact_accuracy > 5")) == 30
    none = expression(CURVE, "forget.fact_accuracy < 0")
    assert none.checkpoint is None and "holds at none of the 5 checkpoints" in none.reason


def test_expression_objective_is_maximized_or_minimized():
    # utility - fact accuracy: -0.4, -0.02, 0.26, 0.25, 0.10
    chosen = expression(CURVE, "model_utility_tofu - forget.fact_accuracy", goal="maximize")
    assert steps(chosen) == 20 and "= 0.26, the highest of 5 checkpoints" in chosen.reason
    assert steps(expression(CURVE, "muse.knowmem_f", goal="minimize")) == 30  # step 40's None is skipped
    assert steps(expression(CURVE, "abs(forget.fact_accuracy - 0.45)", goal="minimize")) == 10
    with pytest.raises(UserError, match="a number, not a condition"):
        expression(CURVE, "muse.knowmem_f")
    with pytest.raises(UserError, match="is a condition"):
        expression(CURVE, "muse.knowmem_f < 1", goal="maximize")


def test_a_metric_no_checkpoint_has_is_an_error_naming_the_ones_it_has():
    with pytest.raises(UserError, match=r"metric 'forget.fact_acc' is in none .* forget.fact_accuracy"):
        expression(CURVE, "forget.fact_acc < 0.1")
    with pytest.raises(UserError, match="metric 'os.path' is in none"):
        expression(CURVE, "os.path < 1")
    with pytest.raises(UserError, match="'muse.knowmem'"):
        muse(CURVE, metric="muse.knowmem", retrained=0.3)


def test_an_empty_curve_chooses_nothing():
    assert muse([], retrained=0.3) == Selection("muse", None, "the curve has no checkpoint")


@pytest.mark.parametrize("text, part", [
    ("__import__('os')", "__import__('os')"),
    ("os.system('ls') > 0", "os.system('ls')"),
    ("(1).real > 0", "(1).real"),
    ("'abc'.upper", "'abc'.upper"),
    ("forget.__class__ > 0", "forget.__class__"),
    ("a.b.c > 0", "a.b.c"),
    ("open('x')", "open('x')"),
    ("[1][0] > 0", "[1][0]"),
    ("(lambda: 1)() > 0", "(lambda: 1)()"),
    ("forget.fact_accuracy ** 2", "forget.fact_accuracy ** 2"),
    ("True", "True"),
    ("forget.fact_accuracy and 1", "forget.fact_accuracy"),
    ("abs(forget.fact_accuracy < 1) > 0", "forget.fact_accuracy < 1"),
    ("max(a=1) > 0", "max(a=1)"),
])
def test_the_parser_refuses_anything_but_metric_arithmetic(text, part):
    with pytest.raises(UserError) as error:
        parse(text)
    message = str(error.value)
    assert f"may not use '{part}'" in message and "\n" not in message


def test_the_parser_accepts_dotted_metric_names_and_the_allowed_functions():
    parsed = parse("abs(forget.fact_accuracy - 0.2) <= max(0.1, min(0.3, overall.model_utility_tofu)) "
                   "or not -muse.knowmem_f >= 2 * forget_quality / 4")
    assert parsed.condition
    assert parsed.names == {"forget.fact_accuracy", "model_utility_tofu", "muse.knowmem_f", "forget_quality"}
    assert parsed.evaluate({"forget.fact_accuracy": 0.25, "model_utility_tofu": 0.05, "muse.knowmem_f": 1,
                            "forget_quality": 0}) is True  # |0.05| <= max(0.1, 0.05)
    with pytest.raises(UserError, match="is not valid"):
        parse("forget.fact_accuracy <")


def test_a_rule_registered_in_a_test_appears_in_the_listing_and_runs_by_name():
    class LastSettings(PartSettings):
        metric: str = "forget.fact_accuracy"

    def last(curve, metric="forget.fact_accuracy"):
        return Selection("last", curve[-1], f"the last checkpoint ({metric} {curve[-1].value(metric)})")

    with registered(SelectionRule("last", "the last checkpoint", last, LastSettings)):
        assert list(rules())[:4] == ["muse", "utility-floor", "reach-retain", "expression"]
        assert "last" in rules() and "last: the last checkpoint" in rule_list()
        assert steps(select("last", CURVE)) == 40
    assert "last" not in rules() and "last:" not in rule_list()


def test_registration_refuses_a_function_whose_parameters_differ_from_its_settings():
    class Settings(PartSettings):
        metric: str = "forget.fact_accuracy"

    def drifted(curve, metric="forget.rougeL_recall"):
        return Selection("drifted", None, "")

    with pytest.raises(ValueError, match="differ from its settings"):
        with registered(SelectionRule("drifted", "", drifted, Settings)):
            pass
    assert "drifted" not in rules()


def test_select_checks_the_rules_settings():
    assert steps(select("muse", CURVE, {"retrained": 0.30})) == 20
    assert steps(select("reach-retain", CURVE, {"retain_value": 0.1, "retain_interval": [0.05, 0.15]})) == 30
    with pytest.raises(UserError, match="selection rule 'muse' has no setting 'retrain'"):
        select("muse", CURVE, {"retrain": 0.3})
    with pytest.raises(UserError, match="retain_interval"):
        select("reach-retain", CURVE, {"retain_value": 0.1, "retain_interval": [0.2, 0.1]})
    with pytest.raises(UserError, match="needs its setting 'retrained'"):
        select("muse", CURVE)
    with pytest.raises(UserError, match="unknown selection rule 'mus' .known: muse, utility-floor"):
        select("mus", CURVE)
