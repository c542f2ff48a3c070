"""Checkpoint selection: which point of a training curve a run keeps, by a named rule.

Light (pydantic only): a curve is a list of ``Checkpoint`` records with flat metric names, a rule is a
pure function registered once (``registry``), and ``select`` runs one by name with its settings.
"""

from unlearn.selection.curve import Checkpoint, Selection, metric_key
from unlearn.selection.registry import SelectionRule, register, registered, rule_list, rules, select

__all__ = ["Checkpoint", "Selection", "SelectionRule", "metric_key", "register", "registered", "rule_list", "rules",
           "select"]
