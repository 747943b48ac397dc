"""MLflow's search filter and order_by strings, parsed by a small grammar. No Django.

    filter     := condition ("AND" condition)*
    condition  := identifier comparator value
                | identifier "IS" ["NOT"] "NULL"
                | identifier ["NOT"] "IN" "(" string ("," string)* ")"
    identifier := [entity "."] key        entity: metrics, params, tags, attributes, datasets
    key        := word ("." word)* | `backticked` | "double quoted" | 'single quoted'
    value      := 'string' | "string" | number
    order_by   := identifier ["ASC" | "DESC"]

Which entity takes which comparator and value is checked after parsing, per search (runs or
experiments). Every refusal names the offending token and its position in the string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["metric", "param", "tag", "attribute", "dataset"]
Value = str | float | tuple[str, ...] | None

ENTITIES: dict[str, Kind] = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}
NUMERIC_COMPARATORS = frozenset({"=", "!=", ">", ">=", "<", "<="})
STRING_COMPARATORS = frozenset({"=", "!=", "LIKE", "ILIKE"})
NULL_COMPARATORS = frozenset({"IS NULL", "IS NOT NULL"})
LIST_COMPARATORS = frozenset({"IN", "NOT IN"})
KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "ASC", "DESC"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<word>[A-Za-z_0-9][A-Za-z_0-9]*)
  | (?P<backtick>`[^`]*`)
  | (?P<double>"(?:[^"\\]|\\.)*")
  | (?P<single>'(?:[^'\\]|\\.)*')
  | (?P<op>!=|>=|<=|==|<>|=|>|<)
  | (?P<punct>[.,()])
    """,
    re.VERBOSE,
)


class FilterSyntaxError(ValueError):
    """A filter the grammar refuses; `position` is the 0-based offset of the offending token."""

    def __init__(self, message: str, *, position: int, token: str) -> None:
        where = f"at position {position}" if token else "at the end"
        near = f" (near {token!r})" if token else ""
        super().__init__(f"Invalid filter {where}{near}: {message}")
        self.position = position
        self.token = token


@dataclass(frozen=True)
class Token:
    kind: str  # number, word, backtick, double, single, op, punct, end
    text: str
    position: int

    @property
    def keyword(self) -> str | None:
        upper = self.text.upper()
        return upper if self.kind == "word" and upper in KEYWORDS else None


@dataclass(frozen=True)
class Condition:
    kind: Kind
    key: str
    comparator: str  # =, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL
    value: Value
    position: int


@dataclass(frozen=True)
class OrderKey:
    kind: Kind
    key: str
    ascending: bool


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FilterSyntaxError("unexpected character.", position=position,
                                    token=text[position])
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(token: Token) -> str:
    body = token.text[1:-1]
    if token.kind == "backtick":
        return body
    quote = token.text[0]
    return body.replace("\\" + quote, quote).replace("\\\\", "\\")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.current
        if token.kind != "end":
            self.index += 1
        return token

    def fail(self, message: str, token: Token | None = None) -> FilterSyntaxError:
        token = token or self.current
        return FilterSyntaxError(message, position=token.position, token=token.text)

    def accept_keyword(self, *words: str) -> Token | None:
        if self.current.keyword in words:
            return self.advance()
        return None

    def expect_keyword(self, word: str) -> Token:
        token = self.accept_keyword(word)
        if token is None:
            raise self.fail(f"expected {word}.")
        return token

    def identifier(self) -> tuple[Kind | None, str, int]:
        """(entity or None when unprefixed, key, position)."""
        first = self.advance()
        if first.kind in ("backtick", "double", "single"):
            return None, _unquote(first), first.position
        if first.kind != "word" or first.keyword is not None:
            raise self.fail("expected an identifier such as metrics.loss or params.lr.", first)
        entity = ENTITIES.get(first.text.lower()) if self.current.text == "." else None
        if entity is None:
            return None, self._dotted(first.text), first.position
        self.advance()  # the dot
        key_token = self.advance()
        if key_token.kind in ("backtick", "double", "single"):
            return entity, _unquote(key_token), first.position
        if key_token.kind not in ("word", "number") or key_token.keyword is not None:
            raise self.fail(f"expected a key after '{first.text}.'.", key_token)
        return entity, self._dotted(key_token.text), first.position

    def _dotted(self, key: str) -> str:
        while self.current.text == "." and self.tokens[self.index + 1].kind in ("word", "number"):
            self.advance()
            key += "." + self.advance().text
        return key

    def value(self) -> str | float:
        token = self.advance()
        if token.kind in ("single", "double"):
            return _unquote(token)
        if token.kind == "number":
            return float(token.text)
        raise self.fail("expected a value: a quoted string or a number.", token)

    def value_list(self) -> tuple[str, ...]:
        if self.advance().text != "(":
            raise self.fail("expected '(' after IN.", self.tokens[self.index - 1])
        values: list[str] = []
        while True:
            token = self.advance()
            if token.kind not in ("single", "double"):
                raise self.fail("an IN list holds quoted strings.", token)
            values.append(_unquote(token))
            separator = self.advance()
            if separator.text == ")":
                return tuple(values)
            if separator.text != ",":
                raise self.fail("expected ',' or ')' in the IN list.", separator)

    def comparator(self) -> tuple[str, Token]:
        token = self.current
        if token.kind == "op":
            if token.text in ("==", "<>"):
                raise self.fail(f"'{token.text}' is not a comparator; use = or !=.")
            return self.advance().text, token
        if self.accept_keyword("LIKE", "ILIKE"):
            return token.text.upper(), token
        if self.accept_keyword("IS"):
            negated = self.accept_keyword("NOT") is not None
            self.expect_keyword("NULL")
            return ("IS NOT NULL" if negated else "IS NULL"), token
        if self.accept_keyword("NOT"):
            self.expect_keyword("IN")
            return "NOT IN", token
        if self.accept_keyword("IN"):
            return "IN", token
        raise self.fail("expected a comparator: = != > >= < <= LIKE ILIKE IN IS NULL.")

    def condition(self, default: Kind) -> Condition:
        entity, key, position = self.identifier()
        comparator, _ = self.comparator()
        value: Value = None
        if comparator in LIST_COMPARATORS:
            value = self.value_list()
        elif comparator not in NULL_COMPARATORS:
            value = self.value()
        return Condition(entity or default, key, comparator, value, position)

    def conditions(self, default: Kind) -> list[Condition]:
        if self.current.kind == "end":
            return []
        found = [self.condition(default)]
        while self.current.kind != "end":
            if self.current.keyword == "OR":
                raise self.fail("OR is not supported; conditions are joined with AND only.")
            if self.accept_keyword("AND") is None:
                raise self.fail("expected AND between conditions.")
            found.append(self.condition(default))
        return found


def parse_filter(text: str | None, *, default: Kind = "attribute") -> list[Condition]:
    """The AND-joined conditions of a filter string (empty for no filter), not yet checked
    against what a search allows (see check_conditions)."""
    if not text or not text.strip():
        return []
    return _Parser(text).conditions(default)


def parse_order_by(clause: str, *, default: Kind = "attribute") -> OrderKey:
    parser = _Parser(clause)
    if parser.current.kind == "end":
        raise parser.fail("an order_by clause names a key, such as metrics.loss DESC.")
    entity, key, _ = parser.identifier()
    direction = parser.accept_keyword("ASC", "DESC")
    if parser.current.kind != "end":
        raise parser.fail("expected ASC or DESC at the end of the order_by clause.")
    return OrderKey(entity or default, key, direction is None or direction.keyword == "ASC")


@dataclass(frozen=True)
class SearchRules:
    """What one search allows: entities, attribute keys (numeric or string) and aliases."""

    entities: frozenset[str]
    string_attributes: frozenset[str]
    numeric_attributes: frozenset[str]
    list_attributes: frozenset[str]
    aliases: dict[str, str]

    def attribute(self, key: str) -> str:
        return self.aliases.get(key, key)


RUN_RULES = SearchRules(
    entities=frozenset({"metric", "param", "tag", "attribute", "dataset"}),
    string_attributes=frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"}),
    numeric_attributes=frozenset({"start_time", "end_time"}),
    list_attributes=frozenset({"run_id"}),
    aliases={"created": "start_time", "Created": "start_time", "run name": "run_name",
             "Run name": "run_name", "Run Name": "run_name"},
)
EXPERIMENT_RULES = SearchRules(
    entities=frozenset({"tag", "attribute"}),
    string_attributes=frozenset({"name", "experiment_id"}),
    numeric_attributes=frozenset({"creation_time", "last_update_time"}),
    list_attributes=frozenset({"experiment_id"}),
    aliases={},
)
DATASET_KEYS = frozenset({"name", "digest", "context"})


def _allowed(condition: Condition, rules: SearchRules) -> tuple[frozenset[str], str]:
    """The comparators a condition's key takes, and what its value must be (number/string)."""
    if condition.kind == "metric":
        return NUMERIC_COMPARATORS, "number"
    if condition.kind in ("param", "tag"):
        return STRING_COMPARATORS | NULL_COMPARATORS, "string"
    if condition.kind == "dataset":
        if condition.key not in DATASET_KEYS:
            raise ValueError(f"datasets.{condition.key} is not searchable; use "
                             f"{', '.join(sorted(DATASET_KEYS))}.")
        return STRING_COMPARATORS | LIST_COMPARATORS, "string"
    key = rules.attribute(condition.key)
    if key in rules.numeric_attributes:
        return NUMERIC_COMPARATORS, "number"
    if key in rules.string_attributes:
        lists = LIST_COMPARATORS if key in rules.list_attributes else frozenset()
        return STRING_COMPARATORS | lists, "string"
    known = sorted(rules.string_attributes | rules.numeric_attributes)
    raise ValueError(f"'{condition.key}' is not a searchable attribute; use {', '.join(known)}.")


def check_condition(condition: Condition, rules: SearchRules) -> Condition:
    """The condition with attribute aliases resolved; a refused one raises FilterSyntaxError."""
    def refuse(message: str) -> FilterSyntaxError:
        return FilterSyntaxError(message, position=condition.position, token=condition.key)

    if condition.kind not in rules.entities:
        raise refuse(f"{condition.kind} conditions are not supported in this search.")
    try:
        comparators, value_type = _allowed(condition, rules)
    except ValueError as exc:
        raise refuse(str(exc)) from exc
    if condition.comparator not in comparators:
        raise refuse(f"'{condition.comparator}' does not apply to {condition.kind} "
                     f"'{condition.key}'; use {' '.join(sorted(comparators))}.")
    value = condition.value
    if value_type == "number" and not isinstance(value, float):
        raise refuse(f"{condition.kind} '{condition.key}' compares with a number, "
                     f"not {value!r}.")
    if value_type == "string" and isinstance(value, float):
        raise refuse(f"{condition.kind} '{condition.key}' compares with a quoted string; "
                     f"write '{_number_text(value)}'.")
    key = rules.attribute(condition.key) if condition.kind == "attribute" else condition.key
    return Condition(condition.kind, key, condition.comparator, value, condition.position)


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def parse_checked_filter(text: str | None, rules: SearchRules) -> list[Condition]:
    return [check_condition(condition, rules) for condition in parse_filter(text)]


def parse_checked_order_by(clause: str, rules: SearchRules) -> OrderKey:
    order = parse_order_by(clause)
    if order.kind not in rules.entities - {"dataset"}:
        raise FilterSyntaxError(f"cannot order by {order.kind} values.", position=0,
                                token=clause.strip())
    if order.kind == "attribute":
        key = rules.attribute(order.key)
        if key not in rules.string_attributes | rules.numeric_attributes:
            raise FilterSyntaxError(f"cannot order by attribute '{order.key}'.", position=0,
                                    token=clause.strip())
        return OrderKey("attribute", key, order.ascending)
    return order


def like_to_regex(pattern: str) -> str:
    """A LIKE pattern (% any run, _ any one character) as an anchored regular expression
    that both Python's re and PostgreSQL's regex engine read the same way."""
    out = ["^"]
    for char in pattern:
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif char.isalnum() or char in " -/:@#,;'\"=<>!~`&":
            out.append(char)
        else:
            out.append("\\" + char)
    out.append("$")
    return "".join(out)
