"""A tiny, safe expression language for row filters over record fields.

Grammar::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | primary
    primary := "(" expr ")" | FIELD OP literal | FIELD "in" "[" literal ("," literal)* "]"
             | FIELD "startswith" STRING
    OP      := == | != | < | <= | > | >=
    literal := number | 'text' | "text" | true | false | null

Example: ``welfare_decile <= 4 and kelurahan_code startswith "35.78.08"``.

Security: nothing is evaluated by Python's ``eval``; a comparison with a missing field or
a value of another type is false, so a record the filter cannot judge is filtered out.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Predicate = Callable[[Mapping[str, object]], bool]

_TOKENS = re.compile(
    r"""\s*(?:
        (?P<num>-?[0-9]+(?:\.[0-9]+)?)
      | (?P<str>'[^']*'|"[^"]*")
      | (?P<op>==|!=|<=|>=|<|>)
      | (?P<punct>[()\[\],])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_KEYWORDS = {"and", "or", "not", "in", "startswith", "true", "false", "null"}


@dataclass(frozen=True)
class RowFilter:
    """A parsed row filter: its source text, the fields it reads, and its predicate."""

    text: str
    fields: frozenset[str]
    predicate: Predicate = field(compare=False, repr=False)

    def __call__(self, record: Mapping[str, object]) -> bool:
        return self.predicate(record)


def parse_row_filter(text: str, known_fields: Iterable[str]) -> RowFilter:
    """Parse ``text``; raise ``ValueError`` naming the problem and its column."""
    tokens = _tokenise(text)
    parser = _Parser(tokens, frozenset(known_fields))
    predicate = parser.expr()
    if parser.pos != len(tokens):
        raise ValueError(f"unexpected {tokens[parser.pos][1]!r} in row filter")
    return RowFilter(text=text, fields=frozenset(parser.used), predicate=predicate)


def all_of(filters: Iterable[RowFilter]) -> RowFilter | None:
    """The conjunction of several filters (the most protective combination)."""
    items = sorted(set(filters), key=lambda f: f.text)
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    predicates = [f.predicate for f in items]
    return RowFilter(
        text=" and ".join(f"({f.text})" for f in items),
        fields=frozenset().union(*(f.fields for f in items)),
        predicate=lambda record: all(p(record) for p in predicates),
    )


def _tokenise(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKENS.match(stripped, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unexpected character at column {pos + 1} of row filter")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], known: frozenset[str]) -> None:
        self.tokens = tokens
        self.known = known
        self.pos = 0
        self.used: set[str] = set()

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token[0] == "end" or (value is not None and token[1] != value):
            raise ValueError(f"expected {value or 'more'} in row filter, found {token[1]!r}")
        self.pos += 1
        return token

    def expr(self) -> Predicate:
        parts = [self._and()]
        while self._peek() == ("word", "or"):
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._not()]
        while self._peek() == ("word", "and"):
            self.pos += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def _not(self) -> Predicate:
        if self._peek() == ("word", "not"):
            self.pos += 1
            inner = self._not()
            return lambda r: not inner(r)
        return self._primary()

    def _primary(self) -> Predicate:
        if self._peek() == ("punct", "("):
            self.pos += 1
            inner = self.expr()
            self._take(")")
            return inner
        kind, name = self._take()
        if kind != "word" or name in _KEYWORDS:
            raise ValueError(f"expected a field name in row filter, found {name!r}")
        if name not in self.known:
            raise ValueError(f"unknown field {name!r} in row filter")
        self.used.add(name)
        kind, op = self._take()
        if op == "in":
            self._take("[")
            values = [self._literal()]
            while self._peek() == ("punct", ","):
                self.pos += 1
                values.append(self._literal())
            self._take("]")
            return lambda r: _defined(r.get(name)) and r.get(name) in values
        if op == "startswith":
            prefix = self._literal()
            if not isinstance(prefix, str):
                raise ValueError("startswith needs a text literal in row filter")
            return lambda r: isinstance(r.get(name), str) and str(r.get(name)).startswith(prefix)
        if kind != "op":
            raise ValueError(f"expected a comparison after {name!r} in row filter")
        compare = _OPS[op]
        value = self._literal()
        return lambda r: _compare(compare, r.get(name), value)

    def _literal(self) -> object:
        kind, text = self._take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1]
        if kind == "word" and text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        raise ValueError(f"expected a literal in row filter, found {text!r}")


def _defined(value: object) -> bool:
    return value is not None


def _compare(compare: Callable[[Any, Any], bool], left: object, right: object) -> bool:
    if left is None:  # a field the record lacks: only "== null" holds
        return compare is operator.eq and right is None
    if right is None:
        return compare is operator.ne
    numeric = (int, float)
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    if not (isinstance(left, numeric) and isinstance(right, numeric)) and type(left) is not type(
        right
    ):
        return False
    try:
        return compare(left, right)
    except TypeError:
        return False
