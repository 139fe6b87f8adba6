"""CEL (Common Expression Language) for policy rules: compile, check names with their positions, evaluate.

A rule sees three variables: `entity` (the governed entity's document, see `entities.py`), `user` (the
acting user's attributes) and `action` (the action being checked). Evaluation fails closed: a rule that
raises (a missing attribute, a type mismatch) or returns anything but `true` counts as failed, with the
error as its reason; guard optional attributes with `has(entity.x)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cel

VARIABLES = ("entity", "user", "action")
USER_ATTRIBUTES = ("id", "username", "role", "department", "project", "clearanceLevel", "costCenter",
                   "costCenterCommercial")
ACTION_ATTRIBUTES = ("name", "toStage", "fromStage", "details")
# Names the language itself gives meaning to (macros, literals, types).
_BUILTINS = {"true", "false", "null", "in", "has", "int", "uint", "double", "string", "bytes", "bool", "list",
             "map", "type", "dyn", "timestamp", "duration", "size", "matches"}
_MACRO_VAR = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")
_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|[A-Za-z_][A-Za-z0-9_]*|\S')
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")
MAX_EXPRESSION = 2000


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an expression, at a 1-based line and column."""

    where: str  # "appliesWhen" or "rules[2]"
    rule: str | None
    line: int
    column: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"where": self.where, "rule": self.rule, "line": self.line, "column": self.column,
                "message": self.message}


def _line_col(source: str, offset: int) -> tuple[int, int]:
    before = source[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


@lru_cache(maxsize=512)
def compiled(expression: str) -> Any:
    """The compiled program (cached by source); ValueError on a syntax error."""
    return cel.compile(expression)


def _syntax_problem(where: str, rule: str | None, error: Exception) -> Problem:
    text = str(error)
    match = _POSITION.search(text)
    if match:
        message = match.group(3).strip().splitlines()[0] if match.group(3).strip() else "Syntax error"
        return Problem(where, rule, int(match.group(1)), int(match.group(2)), message)
    return Problem(where, rule, 1, 1, text.splitlines()[0] if text else "Syntax error")


def _names(source: str) -> list[tuple[int, str, str | None, bool]]:
    """(offset, top-level identifier, the attribute right after it or None, is a function call)."""
    tokens = [(m.start(), m.group()) for m in _TOKEN.finditer(source)]
    out = []
    for i, (offset, tok) in enumerate(tokens):
        if not (tok[0].isalpha() or tok[0] == "_"):
            continue
        if i > 0 and tokens[i - 1][1] == ".":
            continue  # a field or method, not a top-level name
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else None
        attribute = None
        if nxt == "." and i + 2 < len(tokens) and (tokens[i + 2][1][0].isalpha() or tokens[i + 2][1][0] == "_"):
            attribute = tokens[i + 2][1]
        out.append((offset, tok, attribute, nxt == "("))
    return out


def check(expression: str, *, where: str, rule: str | None, entity_fields: set[str]) -> list[Problem]:
    """Problems of one expression: a syntax error, or a name the context does not have (with its position)."""
    if not expression or not expression.strip():
        return [Problem(where, rule, 1, 1, "The expression is empty")]
    if len(expression) > MAX_EXPRESSION:
        return [Problem(where, rule, 1, 1, f"The expression is longer than {MAX_EXPRESSION} characters")]
    try:
        compiled(expression)
    except Exception as exc:  # the extension raises ValueError; anything else is a syntax problem too
        return [_syntax_problem(where, rule, exc)]
    bound = set(_MACRO_VAR.findall(expression))
    problems = []
    known = {"user": USER_ATTRIBUTES, "action": ACTION_ATTRIBUTES}
    for offset, name, attribute, is_call in _names(expression):
        line, column = _line_col(expression, offset)
        if is_call or name in _BUILTINS or name in bound:
            continue
        if name not in VARIABLES:
            problems.append(Problem(where, rule, line, column,
                                    f"Unknown name '{name}': a rule sees entity, user and action"))
            continue
        if attribute is None:
            continue
        allowed = known.get(name)
        if name == "entity":
            allowed = tuple(sorted(entity_fields)) if entity_fields else None
        if allowed is not None and attribute not in allowed:
            attr_col = column + len(name) + 1 + (expression[offset + len(name) + 1:].find(attribute))
            problems.append(Problem(where, rule, line, attr_col,
                                    f"Unknown attribute '{name}.{attribute}'; known: {', '.join(allowed)}"))
    return problems


@dataclass(frozen=True)
class Outcome:
    passed: bool
    value: Any
    reason: str | None  # why it failed (False, an error, not a boolean)


def evaluate(expression: str, context: Mapping[str, Any]) -> Outcome:
    """Run one expression; fail closed on any error or on a result that is not `true`."""
    try:
        value = compiled(expression).execute(dict(context))
    except KeyError as exc:
        return Outcome(False, None, f"missing attribute {exc.args[0]!r} (a rule over a missing value fails)")
    except Exception as exc:  # TypeError, RuntimeError, ValueError from the evaluator: fail closed
        message = str(exc).split(". ")[0][:300]
        return Outcome(False, None, f"could not evaluate: {message}")
    if value is True:
        return Outcome(True, True, None)
    if value is False:
        return Outcome(False, False, "the condition is false")
    return Outcome(False, value, f"the rule returned {type(value).__name__}, not a boolean")


def user_context(principal: Any) -> dict[str, Any]:
    """What `user` holds in a rule: the principal's role and ABAC attributes."""
    attributes = dict(getattr(principal, "attributes", {}) or {})
    return {"id": principal.user_id, "username": getattr(principal, "username", None), "role": principal.role,
            "department": attributes.get("department"), "project": attributes.get("project"),
            "clearanceLevel": attributes.get("clearanceLevel") if attributes.get("clearanceLevel") is not None
            else 0, "costCenter": attributes.get("costCenter"),
            "costCenterCommercial": bool(attributes.get("costCenterCommercial"))}


def action_context(name: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What `action` holds in a rule; every key is present (null where the action has no such fact)."""
    details = dict(details or {})
    return {"name": name, "toStage": details.pop("toStage", None), "fromStage": details.pop("fromStage", None),
            "details": details}
