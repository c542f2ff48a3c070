"""A user's selection expression over flat metric names, parsed safely.

``forget.fact_accuracy < 0.1 and model_utility_tofu > 0.3`` (a condition) or
``model_utility_tofu - forget.fact_accuracy`` (an objective) is parsed with ``ast`` and checked node by
node against a short allow-list: metric names (bare, or dotted once as ``SPLIT.METRIC``), numbers,
comparisons, ``and``/``or``/``not``, ``+ - * /``, unary minus and calls of ``abs``, ``min``, ``max``.
Anything else (another call, a string, a subscript, a lambda, a name starting with ``_``, an attribute
of something that is not a name) is refused with a one-line ``UserError`` naming the part. Nothing is
ever passed to ``eval``: the checked tree is walked by this module.

A condition's operands must be comparisons or other conditions, and arithmetic's operands numbers, so
``forget.fact_accuracy and 1`` is refused rather than read with Python's truthiness.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from unlearn.errors import UserError
from unlearn.selection.curve import metric_key

MAX_LENGTH = 1000  # far above any real expression; keeps the parser's recursion small
FUNCTIONS: dict[str, Callable[..., float]] = {"abs": abs, "min": min, "max": max}
ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
COMPARISONS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
               ast.Eq: operator.eq, ast.NotEq: operator.ne}

Value = float | bool | None  # None: a metric the checkpoint did not compute, or a division by zero


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, whether it is a condition (else a number), the metric names it reads
    (flat keys) and its tree."""

    text: str
    condition: bool
    names: frozenset[str]
    tree: ast.expr

    def evaluate(self, values: Mapping[str, float | None]) -> Value:
        """The expression on one checkpoint's metrics; None when a metric it reads is None or absent there,
        or a division by zero, so the checkpoint does not qualify."""
        return _evaluate(self.tree, values)


def parse(text: str) -> Expression:
    """Parse and check ``text``; raises ``UserError`` naming the first part not allowed."""
    if not text or not text.strip():
        raise UserError("the selection expression is empty; give a condition or an objective over metric names")
    if len(text) > MAX_LENGTH:
        raise UserError(f"the selection expression is {len(text)} characters long (at most {MAX_LENGTH})")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
        raise UserError(f"the selection expression '{text}' is not valid: {error.msg}") from None
    names: set[str] = set()
    condition = _check(tree, text, names)
    return Expression(text, condition, frozenset(names), tree)


def _refuse(node: ast.AST, text: str, why: str) -> UserError:
    part = ast.get_source_segment(text.strip(), node) or type(node).__name__
    return UserError(f"the selection expression may not use '{part}' ({why}); allowed: metric names, numbers, "
                     "comparisons, and/or/not, + - * /, abs/min/max")


def dotted_name(node: ast.expr) -> str | None:
    """``forget.fact_accuracy`` for ``Attribute(Name(forget), fact_accuracy)``, ``forget_quality`` for a
    name; None for anything else (an attribute of a call, a constant or a deeper chain)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _check(node: ast.expr, text: str, names: set[str]) -> bool:
    """Check ``node`` and its children; True when it is a condition, False when a number."""
    if isinstance(node, ast.Name | ast.Attribute):
        name = dotted_name(node)
        if name is None:
            raise _refuse(node, text, "attributes only as SPLIT.METRIC on a metric name")
        if any(part.startswith("_") for part in name.split(".")):
            raise _refuse(node, text, "no metric name starts with '_'")
        if name in FUNCTIONS:
            raise _refuse(node, text, f"{name} is a function; call it")
        names.add(metric_key(name))
        return False
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _refuse(node, text, "constants are numbers only")
        return False
    if isinstance(node, ast.BoolOp):
        for operand in node.values:
            if not _check(operand, text, names):
                raise _refuse(operand, text, "and/or join conditions, not numbers")
        return True
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            if not _check(node.operand, text, names):
                raise _refuse(node.operand, text, "not applies to a condition, not a number")
            return True
        if isinstance(node.op, ast.USub | ast.UAdd):
            _number(node.operand, text, names)
            return False
        raise _refuse(node, text, "an operator not allowed")
    if isinstance(node, ast.BinOp):
        if type(node.op) not in ARITHMETIC:
            raise _refuse(node, text, "an operator not allowed")
        _number(node.left, text, names)
        _number(node.right, text, names)
        return False
    if isinstance(node, ast.Compare):
        if any(type(op) not in COMPARISONS for op in node.ops):
            raise _refuse(node, text, "comparisons are < <= > >= == !=")
        for operand in (node.left, *node.comparators):
            _number(operand, text, names)
        return True
    if isinstance(node, ast.Call):
        function = node.func.id if isinstance(node.func, ast.Name) else None
        if function not in FUNCTIONS or node.keywords or not node.args:
            raise _refuse(node, text, "the only calls are abs(x), min(x, y, ...) and max(x, y, ...)")
        if function == "abs" and len(node.args) != 1:
            raise _refuse(node, text, "abs takes one number")
        for argument in node.args:
            _number(argument, text, names)
        return False
    raise _refuse(node, text, "not an allowed part")


def _number(node: ast.expr, text: str, names: set[str]) -> None:
    if _check(node, text, names):
        raise _refuse(node, text, "a condition where a number is needed")


def _evaluate(node: ast.expr, values: Mapping[str, float | None]) -> Value:
    """Walk a checked tree. None (not computed) makes the whole number or comparison None; ``and``/``or``
    treat None as not satisfied, so a condition is never true on a missing value."""
    if isinstance(node, ast.Name | ast.Attribute):
        return values.get(metric_key(dotted_name(node)))
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.BoolOp):
        results = [_evaluate(operand, values) is True for operand in node.values]
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        if isinstance(node.op, ast.Not):
            return None if operand is None else not operand
        return None if operand is None else (-operand if isinstance(node.op, ast.USub) else operand)
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
            return None
        return ARITHMETIC[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        operands = [_evaluate(o, values) for o in (node.left, *node.comparators)]
        if any(o is None for o in operands):
            return None
        return all(COMPARISONS[type(op)](a, b) for op, a, b in zip(node.ops, operands, operands[1:]))
    if isinstance(node, ast.Call):
        arguments = [_evaluate(a, values) for a in node.args]
        return None if any(a is None for a in arguments) else FUNCTIONS[node.func.id](*arguments)
    raise AssertionError(f"unchecked node {type(node).__name__}")  # parse() admits no other node
