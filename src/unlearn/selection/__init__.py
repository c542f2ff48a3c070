"""Checkpoint selection: which point of a training curve a run keeps, by a named rule.

Light (pydantic only): a curve is a list of ``Checkpoint`` records with flat metric names, a rule is a
pure function registered once (``registry``), and ``select`` runs one by name with its settings;
``read_trajectory`` reads the curve a training run wrote (``trajectory.json``).
"""

from unlearn.selection.curve import Checkpoint, Selection, metric_key
from unlearn.selection.registry import SelectionRule, register, registered, rule_list, rules, select
from unlearn.selection.trajectory import read_trajectory

__all__ = ["Checkpoint", "Selection", "SelectionRule", "metric_key", "read_trajectory", "register", "registered",
           "rule_list", "rules", "select"]
