"""Pagination: page numbers for the small lists, keyset (cursor) pages for the big ones.

`KeysetPagination` reads a page as "the rows after this one in the list's order", an index
range scan that costs the same on the first page and the millionth, instead of an OFFSET
that reads and throws away every row before the page. Its order must be unique (the
selector that builds the list makes it so). It keeps the page-number API of the small
lists: `?page=N` still works (an OFFSET, fine near the front), `?page=last` is the first
page in reverse order, and `next`/`previous` are cursor links whichever way a page was
asked for, so a client that follows `next` walks a list of any length in time proportional
to what it reads. On PostgreSQL `count` is exact up to COUNT_EXACT_UP_TO rows and the
planner's estimate beyond (`count_exact` says which), instead of a COUNT(*) over every
match; SQLite counts.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import F, Field, Func, Q, QuerySet, Value
from django.db.models.fields import BooleanField, DateTimeField
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from axion_registry.errors import InvalidInput

COUNT_EXACT_UP_TO = 1000


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000


@dataclass(frozen=True)
class SortKey:
    """One column of a list's order: a lookup path (`major`, `model__name`) and a
    direction."""

    path: str
    descending: bool

    @classmethod
    def parse(cls, term: str) -> SortKey:
        return cls(term.lstrip("-"), term.startswith("-"))


class RowCompare(Func):
    """`(a, b, c) < (x, y, z)`: a row-value comparison, which a B-tree index on (a, b, c)
    answers as a range (PostgreSQL and SQLite 3.15+ both have row values)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, columns: list[Any], operator: str, values: list[Any]) -> None:
        self.operator = operator
        self.width = len(columns)
        super().__init__(*columns, *values)

    def as_sql(self, compiler: Any, connection: Any, function: str | None = None,
               template: str | None = None, arg_joiner: str | None = None,
               **extra_context: Any) -> tuple[str, list[Any]]:
        parts, params = [], []
        for expression in self.get_source_expressions():
            sql, expression_params = compiler.compile(expression)
            parts.append(sql)
            params.extend(expression_params)
        left, right = ", ".join(parts[:self.width]), ", ".join(parts[self.width:])
        return f"({left}) {self.operator} ({right})", params


def key_field(queryset: QuerySet, path: str) -> Field:
    """The model field at the end of a lookup path (`model__name` -> RegisteredModel.name)."""
    model = queryset.model
    field: Any = None
    for part in path.split("__"):
        field = model._meta.get_field("id" if part == "pk" else part)
        model = field.related_model or model
    assert isinstance(field, Field)
    return field


def group_by_direction(keys: list[SortKey]) -> list[list[SortKey]]:
    groups: list[list[SortKey]] = []
    for key in keys:
        if groups and groups[-1][0].descending == key.descending:
            groups[-1].append(key)
        else:
            groups.append([key])
    return groups


def compare(group: list[SortKey], operator: str, values: list[Any]) -> Q | RowCompare:
    if len(group) == 1:
        lookup = {"<": "lt", ">": "gt", "<=": "lte", ">=": "gte"}[operator]
        return Q(**{f"{group[0].path}__{lookup}": values[0]})
    return RowCompare([F(key.path) for key in group], operator, values)


def after(keys: list[SortKey], values: list[Any], fields: list[Field]) -> Q:
    """Rows strictly after `values` in the order of `keys`: a row comparison per run of
    keys that share a direction, e.g. (model > m) or (model = m and (major, minor, patch) <
    (x, y, z)), with the first run's bound (model >= m) repeated so the index has a range."""
    typed = [Value(value, output_field=field) for value, field in zip(values, fields, strict=True)]
    branches: list[Q] = []
    equal = Q()
    start = 0
    groups = group_by_direction(keys)
    for group in groups:
        group_values = typed[start:start + len(group)]
        operator = "<" if group[0].descending else ">"
        branches.append(equal & Q(compare(group, operator, group_values)))
        equal &= Q(**{key.path: value for key, value in
                      zip(group, values[start:start + len(group)], strict=True)})
        start += len(group)
    condition = branches[0]
    for branch in branches[1:]:
        condition |= branch
    if len(groups) > 1:
        first = groups[0]
        condition &= Q(compare(first, "<=" if first[0].descending else ">=",
                               typed[:len(first)]))
    return condition


def encode_cursor(order: list[str], values: list[Any], backwards: bool) -> str:
    """The position after one row in one order: the row's key values, the order's terms
    (a cursor read under another order is refused) and the direction."""
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    raw = json.dumps({"order": order, "after": plain, "backwards": backwards},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


BAD_CURSOR = ("the cursor is not one this list gave out (or the list's ordering changed); "
              "start again from the first page and follow `next`.")


def decode_cursor(cursor: str, order: list[str],
                  fields: list[Field]) -> tuple[list[Any], bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        values, backwards = body["after"], body["backwards"]
        if body["order"] != order or not isinstance(values, list) or len(values) != len(fields):
            raise ValueError(len(values))
        typed = [field.to_python(value) for value, field in zip(values, fields, strict=True)]
        if any(value is None for value in typed) or not isinstance(backwards, bool):
            raise ValueError(values)
        for field, value in zip(fields, typed, strict=True):
            if isinstance(field, DateTimeField) and not isinstance(value, datetime):
                raise ValueError(value)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError,
            ValidationError) as exc:
        raise InvalidInput(f"cursor: {BAD_CURSOR}", code="invalid_cursor") from exc
    return typed, backwards


def estimated_count(queryset: QuerySet) -> int | None:
    """The planner's row estimate for the list (PostgreSQL), else None. Only the filter
    matters to the estimate: the plan is of the matching keys (planning the page's full
    projection, with its subqueries and joins, cost five times as much)."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    text = queryset.order_by().values("pk").explain(format="json")
    if not text:  # a filter that matches nothing by construction: Django runs no query
        return 0
    plan = json.loads(text)
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset: QuerySet) -> tuple[int, bool]:
    """(count, exact). Where the planner expects more than COUNT_EXACT_UP_TO matches, its
    estimate, without counting; else an exact count that stops after the bound (the
    planner's estimate beyond it). SQLite has no estimate: it counts."""
    estimate = estimated_count(queryset)
    if estimate is None:
        return queryset.order_by().count(), True
    if estimate > COUNT_EXACT_UP_TO:
        return estimate, False
    seen = queryset.order_by().values("pk")[:COUNT_EXACT_UP_TO + 1].count()
    if seen <= COUNT_EXACT_UP_TO:
        return seen, True
    return max(estimate, seen), False


class KeysetPagination(BasePagination):
    page_size = 50
    max_page_size = 1000
    page_size_query_param = "page_size"
    page_query_param = "page"
    cursor_query_param = "cursor"

    def __init__(self) -> None:
        self.request: Request | None = None
        self.next_values: list[Any] | None = None
        self.previous_values: list[Any] | None = None
        self.count: tuple[int, bool] = (0, True)
        self.key_names: list[str] = []
        self.order: list[str] = []

    def get_page_size(self, request: Request) -> int:
        text = request.query_params.get(self.page_size_query_param, "")
        if text.isascii() and text.isdigit() and int(text) > 0:
            return min(int(text), self.max_page_size)
        return self.page_size

    def paginate_queryset(self, queryset: QuerySet, request: Request,
                          view: Any = None) -> list[Any] | None:
        """One page of a `.values()` queryset whose order_by is unique."""
        self.request = request
        self.order = [str(term) for term in queryset.query.order_by]
        keys = [SortKey.parse(term) for term in self.order]
        fields = [key_field(queryset, key.path) for key in keys]
        size = self.get_page_size(request)
        self.count = bounded_count(queryset)
        names = self.key_names = [f"_key{index}" for index in range(len(keys))]
        keyed = queryset.annotate(**{name: F(key.path)
                                     for name, key in zip(names, keys, strict=True)})
        cursor = request.query_params.get(self.cursor_query_param)
        page = request.query_params.get(self.page_query_param)
        if cursor:
            values, backwards = decode_cursor(cursor, self.order, fields)
            rows = self.read(keyed, keys, fields, size, values, backwards)
        elif page and page != "last":
            rows = self.read_numbered(keyed, size, page)
        else:
            rows = self.read(keyed, keys, fields, size, None, backwards=page == "last")
        return [self.unkeyed(row, names) for row in rows]

    def read(self, queryset: QuerySet, keys: list[SortKey], fields: list[Field], size: int,
             values: list[Any] | None, backwards: bool) -> list[dict[str, Any]]:
        order = [SortKey(key.path, key.descending != backwards) for key in keys]
        if values is not None:
            queryset = queryset.filter(after(order, values, fields))
        terms = [("-" if key.descending else "") + key.path for key in order]
        rows = list(queryset.order_by(*terms)[:size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
            self.set_links(rows, more_before=more, more_after=values is not None)
        else:
            self.set_links(rows, more_before=values is not None, more_after=more)
        return rows

    def read_numbered(self, queryset: QuerySet, size: int, page: str) -> list[dict[str, Any]]:
        if not (page.isascii() and page.isdigit() and int(page) > 0):
            raise InvalidInput(
                f"page: '{page}' is not a page number; give 1, 2, ... or 'last' (or follow "
                "`next`, which is faster on deep pages).", code="invalid_page")
        start = (int(page) - 1) * size
        rows = list(queryset[start:start + size + 1])
        more = len(rows) > size
        rows = rows[:size]
        self.set_links(rows, more_before=start > 0, more_after=more)
        return rows

    def set_links(self, rows: list[dict[str, Any]], *, more_before: bool,
                  more_after: bool) -> None:
        self.previous_values = self.key_values(rows[0]) if rows and more_before else None
        self.next_values = self.key_values(rows[-1]) if rows and more_after else None

    def key_values(self, row: dict[str, Any]) -> list[Any]:
        return [row[name] for name in self.key_names]

    @staticmethod
    def unkeyed(row: dict[str, Any], names: list[str]) -> dict[str, Any]:
        for name in names:
            row.pop(name)
        return row

    def link(self, values: list[Any] | None, backwards: bool) -> str | None:
        if values is None or self.request is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, self.cursor_query_param,
                                   encode_cursor(self.order, values, backwards))

    def get_paginated_response(self, data: Any) -> Response:
        count, exact = self.count
        return Response({
            "count": count,
            "count_exact": exact,
            "next": self.link(self.next_values, backwards=False),
            "previous": self.link(self.previous_values, backwards=True),
            "results": data,
        })

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["count", "count_exact", "results"],
            "properties": {
                "count": {"type": "integer", "description":
                          f"Exact up to {COUNT_EXACT_UP_TO:,}; beyond, the database's "
                          "estimate when `count_exact` is false."},
                "count_exact": {"type": "boolean"},
                "next": {**link, "description": "The next page (a cursor link)."},
                "previous": {**link, "description": "The previous page (a cursor link)."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        def parameter(name: str, description: str, kind: str) -> dict[str, Any]:
            return {"name": name, "required": False, "in": "query",
                    "description": description, "schema": {"type": kind}}

        return [
            parameter(self.cursor_query_param, "A position from a `next` or `previous` link.",
                      "string"),
            parameter(self.page_query_param, "A page number, or `last`; deep pages are "
                      "faster through `next`.", "string"),
            parameter(self.page_size_query_param,
                      f"Results per page (default {self.page_size}, at most "
                      f"{self.max_page_size:,}).", "integer"),
        ]

