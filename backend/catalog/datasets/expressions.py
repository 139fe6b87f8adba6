"""A small, safe expression language over columns, compiled to polars expressions (never `eval`).

Grammar (precedence from low to high):

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum
                    | ["not"] "in" "[" literal ("," literal)* "]"
                    | "is" ["not"] "null")?
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/" | "%") unary)*
    unary    := "-" unary | atom
    atom     := NUMBER | STRING | "true" | "false" | "null" | column | call | "(" expr ")"
    column   := IDENT | `any name in backticks`
    call     := FUNCTION "(" [expr ("," expr)*] ")"

Functions are a fixed allow-list (FUNCTIONS below). Identifiers name columns of the frame and must
exist. Anything else — attribute access, subscripts, dunder names, unknown functions — is a syntax
error. Input length and nesting depth are bounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_REGEX = 500


class ExpressionError(ValueError):
    """The expression is malformed or names something it may not; `column` is set for unknown columns."""

    def __init__(self, message: str, column: str | None = None):
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Token:
    kind: str  # num | str | ident | op | end
    value: str
    pos: int


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<quoted>`[^`]{1,256}`)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<=|>=|[<>+\-*/%(),\[\]])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"The expression is longer than {MAX_LENGTH} characters")
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"Unexpected character at position {pos + 1}")
        kind = match.lastgroup
        raw = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw[1:-1])
        elif kind == "quoted":
            kind, value = "column", raw[1:-1]
        else:
            value = raw
        tokens.append(Token(kind, value, match.start(kind if kind != "column" else "quoted") + 1))
        pos = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}


def _str(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.String)


def _literal_string(arg: object, name: str) -> str:
    if not isinstance(arg, _Literal) or not isinstance(arg.value, str):
        raise ExpressionError(f"{name}() takes a string literal as its second argument")
    return arg.value


def _regex(arg: object) -> str:
    pattern = _literal_string(arg, "matches")
    if len(pattern) > MAX_REGEX:
        raise ExpressionError(f"Regular expressions are limited to {MAX_REGEX} characters")
    try:  # polars uses Rust's regex engine (linear time, no backtracking); check the syntax early
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        raise ExpressionError("The regular expression is invalid") from exc
    return pattern


MAX_ROUND_DIGITS = 15  # a float64 holds about 15 significant decimal digits


def _round_digits(arg: object) -> int:
    value = getattr(arg, "value", None) if isinstance(arg, _Literal) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ROUND_DIGITS:
        raise ExpressionError(f"round() takes a whole number from 0 to {MAX_ROUND_DIGITS} as its second argument")
    return value


# name -> (min args, max args, builder(args as compiled exprs or literals))
FUNCTIONS: dict[str, tuple[int, int, Callable[..., pl.Expr]]] = {
    "len": (1, 1, lambda a: _str(a[0].expr).str.len_chars()),
    "lower": (1, 1, lambda a: _str(a[0].expr).str.to_lowercase()),
    "upper": (1, 1, lambda a: _str(a[0].expr).str.to_uppercase()),
    "strip": (1, 1, lambda a: _str(a[0].expr).str.strip_chars()),
    "abs": (1, 1, lambda a: a[0].expr.abs()),
    "round": (1, 2, lambda a: a[0].expr.round(_round_digits(a[1]) if len(a) > 1 else 0)),
    "is_null": (1, 1, lambda a: a[0].expr.is_null()),
    "is_not_null": (1, 1, lambda a: a[0].expr.is_not_null()),
    "is_nan": (1, 1, lambda a: a[0].expr.is_nan()),
    "contains": (2, 2, lambda a: _str(a[0].expr).str.contains(_literal_string(a[1], "contains"), literal=True)),
    "startswith": (2, 2, lambda a: _str(a[0].expr).str.starts_with(_literal_string(a[1], "startswith"))),
    "endswith": (2, 2, lambda a: _str(a[0].expr).str.ends_with(_literal_string(a[1], "endswith"))),
    "matches": (2, 2, lambda a: _str(a[0].expr).str.contains(_regex(a[1]))),
    "year": (1, 1, lambda a: a[0].expr.dt.year()),
    "month": (1, 1, lambda a: a[0].expr.dt.month()),
    "day": (1, 1, lambda a: a[0].expr.dt.day()),
}


@dataclass
class _Node:
    expr: pl.Expr


@dataclass
class _Literal(_Node):
    value: object


class _Parser:
    def __init__(self, text: str, columns: set[str]):
        self.tokens = tokenize(text)
        self.i = 0
        self.columns = columns
        self.depth = 0
        self.used: set[str] = set()

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, value: str | None = None) -> Token | None:
        tok = self.tok
        if tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return tok
        return None

    def keyword(self, word: str) -> bool:
        return self.accept("ident", word) is not None

    def expect(self, kind: str, value: str) -> None:
        if not self.accept(kind, value):
            raise ExpressionError(f"Expected '{value}' at position {self.tok.pos}")

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"The expression nests deeper than {MAX_DEPTH} levels")

    # grammar
    def parse(self) -> pl.Expr:
        node = self.or_()
        if self.tok.kind != "end":
            raise ExpressionError(f"Unexpected '{self.tok.value[:20]}' at position {self.tok.pos}")
        return node.expr

    def or_(self) -> _Node:
        self.nest()
        node = self.and_()
        while self.keyword("or"):
            node = _Node(node.expr | self.and_().expr)
        self.depth -= 1
        return node

    def and_(self) -> _Node:
        node = self.not_()
        while self.keyword("and"):
            node = _Node(node.expr & self.not_().expr)
        return node

    def not_(self) -> _Node:
        if self.keyword("not"):
            self.nest()
            inner = self.not_()
            self.depth -= 1
            return _Node(~inner.expr)
        return self.compare()

    def compare(self) -> _Node:
        left = self.sum_()
        tok = self.tok
        if tok.kind == "op" and tok.value in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.sum_()
            ops = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
            return _Node(getattr(left.expr, ops[tok.value])(right.expr))
        negate = False
        if tok.kind == "ident" and tok.value == "not" and self.tokens[self.i + 1].value == "in":
            self.take()
            negate = True
        if self.keyword("in"):
            self.expect("op", "[")
            values = [self.literal()]
            while self.accept("op", ","):
                values.append(self.literal())
            self.expect("op", "]")
            if len(values) > 1000:
                raise ExpressionError("An 'in' list takes at most 1000 values")
            expr = left.expr.is_in(values)
            return _Node(~expr if negate else expr)
        if self.keyword("is"):
            is_not = self.keyword("not")
            if not self.keyword("null"):
                raise ExpressionError(f"Expected 'null' at position {self.tok.pos}")
            return _Node(left.expr.is_not_null() if is_not else left.expr.is_null())
        return left

    def sum_(self) -> _Node:
        node = self.product()
        while self.tok.kind == "op" and self.tok.value in ("+", "-"):
            op = self.take().value
            right = self.product()
            node = _Node(node.expr + right.expr if op == "+" else node.expr - right.expr)
        return node

    def product(self) -> _Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.value in ("*", "/", "%"):
            op = self.take().value
            right = self.unary()
            node = _Node({"*": node.expr * right.expr, "/": node.expr / right.expr, "%": node.expr % right.expr}[op])
        return node

    def unary(self) -> _Node:
        if self.accept("op", "-"):
            self.nest()
            inner = self.unary()
            self.depth -= 1
            if isinstance(inner, _Literal) and isinstance(inner.value, int | float):
                return _Literal(pl.lit(-inner.value), -inner.value)
            return _Node(-inner.expr)
        return self.atom()

    def literal(self) -> object:
        negative = bool(self.accept("op", "-"))
        tok = self.take()
        if tok.kind == "num":
            value = float(tok.value) if any(c in tok.value for c in ".eE") else int(tok.value)
            return -value if negative else value
        if negative:
            raise ExpressionError(f"Expected a number at position {tok.pos}")
        if tok.kind == "str":
            return tok.value
        if tok.kind == "ident" and tok.value in ("true", "false"):
            return tok.value == "true"
        raise ExpressionError(f"Expected a literal at position {tok.pos}")

    def atom(self) -> _Node:
        tok = self.take()
        if tok.kind == "num":
            value = float(tok.value) if any(c in tok.value for c in ".eE") else int(tok.value)
            return _Literal(pl.lit(value), value)
        if tok.kind == "str":
            return _Literal(pl.lit(tok.value), tok.value)
        if tok.kind == "op" and tok.value == "(":
            node = self.or_()
            self.expect("op", ")")
            return node
        if tok.kind == "column":
            return self.column(tok.value)
        if tok.kind == "ident":
            if tok.value in ("true", "false"):
                return _Literal(pl.lit(tok.value == "true"), tok.value == "true")
            if tok.value == "null":
                return _Literal(pl.lit(None), None)
            if self.tok.kind == "op" and self.tok.value == "(":
                return self.call(tok)
            if tok.value in KEYWORDS:
                raise ExpressionError(f"Unexpected '{tok.value}' at position {tok.pos}")
            return self.column(tok.value)
        if tok.kind == "end":
            raise ExpressionError("The expression ends too early")
        raise ExpressionError(f"Unexpected '{tok.value[:20]}' at position {tok.pos}")

    def column(self, name: str) -> _Node:
        if name not in self.columns:
            raise ExpressionError(f"Unknown column '{name[:100]}'", column=name[:256])
        self.used.add(name)
        return _Node(pl.col(name))

    def call(self, tok: Token) -> _Node:
        spec = FUNCTIONS.get(tok.value)
        if spec is None:
            raise ExpressionError(f"Unknown function '{tok.value[:40]}' (allowed: {', '.join(sorted(FUNCTIONS))})")
        self.expect("op", "(")
        self.nest()
        args: list[_Node] = []
        if not self.accept("op", ")"):
            args.append(self.or_())
            while self.accept("op", ","):
                args.append(self.or_())
            self.expect("op", ")")
        self.depth -= 1
        low, high, build = spec
        if not low <= len(args) <= high:
            raise ExpressionError(f"{tok.value}() takes {low}{'' if low == high else f' to {high}'} arguments")
        return _Node(build(args))


def compile_expression(text: str, columns: list[str] | set[str]) -> pl.Expr:
    """The polars expression for `text` over a frame with `columns` (ExpressionError when invalid)."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("The expression is empty")
    return _Parser(text, set(columns)).parse()


def columns_used(text: str, columns: list[str] | set[str]) -> set[str]:
    parser = _Parser(text, set(columns))
    parser.parse()
    return parser.used
