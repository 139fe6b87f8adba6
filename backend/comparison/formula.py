"""A safe scoring-formula language: arithmetic over metric keys, checked against a whitelist of syntax and
interpreted node by node (never `eval`).

    0.6 * performance + 0.4 * cost_efficiency
    min(performance, reliability) - 0.1 * max(0, 50 - context_size)

Allowed: numbers, metric keys (each names that metric's 0–100 score; `raw.<key>` its raw value), `+ - * / **`,
unary minus, parentheses and the functions min, max, abs, sqrt, log (natural), log10, clamp(x, lo, hi).
A formula is at most 500 characters and 100 syntax nodes. A model missing a metric the formula uses has no
custom score (it is listed as missing, never scored as zero).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping

from backend.core.errors import AISystemError

MAX_LENGTH = 500
MAX_NODES = 100


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min, "max": max, "abs": abs, "sqrt": math.sqrt, "log": math.log, "log10": math.log10, "clamp": _clamp,
}
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}


class Missing(Exception):
    """The formula names a metric the subject has no value for."""


def invalid(message: str, position: int | None = None) -> AISystemError:
    return AISystemError("COMPARE_006", message, {"position": position} if position is not None else {})


def parse(text: str) -> tuple[ast.Expression, set[str]]:
    """The checked syntax tree and the metric keys the formula reads (`raw.<key>` counts as `<key>`)."""
    if not text.strip():
        raise invalid("The formula is empty")
    if len(text) > MAX_LENGTH:
        raise invalid(f"The formula is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise invalid(f"Syntax error: {exc.msg}", exc.offset) from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise invalid(f"The formula has more than {MAX_NODES} parts")
    keys: set[str] = set()
    for node in nodes:
        where = getattr(node, "col_offset", None)
        if isinstance(node, ast.Expression | ast.Load | ast.operator | ast.unaryop):
            if isinstance(node, ast.operator) and type(node) not in _BINARY:
                raise invalid(f"The operator {type(node).__name__} is not allowed")
            if isinstance(node, ast.unaryop) and not isinstance(node, ast.USub | ast.UAdd):
                raise invalid(f"The operator {type(node).__name__} is not allowed")
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise invalid("Only numbers may appear as constants", where)
        elif isinstance(node, ast.BinOp | ast.UnaryOp):
            pass
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                raise invalid(f"Only the functions {', '.join(FUNCTIONS)} may be called", where)
        elif isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id == "raw"):
                raise invalid("Only raw.<metric> may use a dot", where)
            keys.add(node.attr)
        elif isinstance(node, ast.Name):
            if node.id not in FUNCTIONS and node.id != "raw":
                keys.add(node.id)
        else:
            raise invalid(f"{type(node).__name__} is not allowed in a formula", where)
    return tree, keys


def evaluate(tree: ast.Expression, scores: Mapping[str, float | None], raw: Mapping[str, float | None]) -> float:
    """The formula's value for one subject; `Missing` when it reads a value the subject lacks, AISystemError
    COMPARE_006 on arithmetic that has no value (a division by zero, the log of a negative number)."""

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            value = scores.get(node.id)
            if value is None:
                raise Missing(node.id)
            return float(value)
        if isinstance(node, ast.Attribute):
            value = raw.get(node.attr)
            if value is None:
                raise Missing(node.attr)
            return float(value)
        if isinstance(node, ast.UnaryOp):
            operand = walk(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise invalid("Exponents are limited to ±100", node.col_offset)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Call):
            return float(FUNCTIONS[node.func.id](*[walk(a) for a in node.args]))  # type: ignore[attr-defined]
        raise invalid(f"{type(node).__name__} is not allowed in a formula")

    try:
        value = walk(tree)
    except (ZeroDivisionError, ValueError, OverflowError, TypeError) as exc:
        raise invalid(f"The formula has no value here: {exc}") from None
    if isinstance(value, complex) or not math.isfinite(value):
        raise invalid("The formula has no finite value")
    return value
