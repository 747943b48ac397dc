"""How the admin shows stored JSON and numbers to a person: tables, not raw JSON; four
significant digits, not sixteen."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

MAX_ROWS = 50
EMPTY = mark_safe('<span class="quiet">(none)</span>')


def significant(value: Any, digits: int = 4) -> str:
    """A number as a person reads it: 0.123456789 -> 0.1235; NaN and infinities by name."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"


def _cell(value: Any) -> SafeString:
    if isinstance(value, (Mapping, list, tuple)):
        return json_table(value)
    return format_html("{}", significant(value))


def _rows_of_records(records: Sequence[Mapping[str, Any]]) -> SafeString:
    columns = list(dict.fromkeys(key for record in records for key in record))
    head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
    body = format_html_join("", "<tr>{}</tr>", (
        (format_html_join("", "<td>{}</td>", ((_cell(r.get(c, "")),) for c in columns)),)
        for r in records[:MAX_ROWS]))
    return format_html('<table class="json-table"><thead><tr>{}</tr></thead><tbody>{}</tbody>'
                       "</table>{}", head, body, _more(len(records)))


def _more(count: int) -> SafeString:
    if count <= MAX_ROWS:
        return mark_safe("")
    return format_html('<p class="quiet">... and {} more</p>', count - MAX_ROWS)


def json_table(value: Any) -> SafeString:
    """Any stored JSON as nested HTML tables: an object as key/value rows, a list of
    objects as a table with a column per key, other lists one item per row."""
    if value is None or value == {} or value == []:
        return EMPTY
    if isinstance(value, Mapping):
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>",
                                ((key, _cell(item)) for key, item in value.items()))
        return format_html('<table class="json-table"><tbody>{}</tbody></table>', rows)
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, Mapping) for item in value):
            return _rows_of_records(value)
        rows = format_html_join("", "<tr><td>{}</td></tr>",
                                ((_cell(item),) for item in value[:MAX_ROWS]))
        return format_html('<table class="json-table"><tbody>{}</tbody></table>{}', rows,
                           _more(len(value)))
    return _cell(value)


def gate_report_table(gates: Sequence[Mapping[str, Any]]) -> SafeString:
    """Every gate with what it wanted and what it got; the failing ones highlighted."""
    if not gates:
        return EMPTY
    rows = format_html_join("", '<tr class="{}" style="{}"><td>{}</td><td>{}</td><td>{}</td>'
                            "<td><strong>{}</strong></td></tr>", (
        ("gate-passed" if g.get("passed") else "gate-failed",
         "" if g.get("passed") else "background:#fde2e1;color:#8a1f11",
         g.get("gate", ""), g.get("wanted", ""), g.get("got", ""),
         "passed" if g.get("passed") else "FAILED")
        for g in gates))
    return format_html('<table class="gate-report"><thead><tr><th>gate</th><th>wanted</th>'
                       "<th>got</th><th>verdict</th></tr></thead><tbody>{}</tbody></table>",
                       rows)


def _table_display(name: str) -> Callable[[Any, Model], SafeString]:
    @admin.display(description=name.replace("_", " "))
    def show(self: Any, obj: Model) -> SafeString:
        value = getattr(obj, name)
        return gate_report_table(value) if name == "gate_report" else json_table(value)

    return show


def _number_display(name: str) -> Callable[[Any, Model], str]:
    @admin.display(description=name.replace("_", " "), ordering=name)
    def show(self: Any, obj: Model) -> str:
        return significant(getattr(obj, name))

    return show


class ReadableFieldsMixin:
    """JSON fields shown read-only as tables (`json_tables`) and floats with four
    significant digits (`rounded`, used as `<name>_rounded` in list_display or fields).

    A JSON field the user may edit stays a JSON editor; once read-only it is a table.
    """

    json_tables: tuple[str, ...] = ()
    rounded: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.json_tables:
            setattr(cls, f"{name}_table", _table_display(name))
        for name in cls.rounded:
            setattr(cls, f"{name}_rounded", _number_display(name))

    def _readable(self, name: str) -> str:
        if name in self.json_tables:
            return f"{name}_table"
        if name in self.rounded:
            return f"{name}_rounded"
        return name

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = super().get_readonly_fields(request, obj)  # type: ignore[misc]
        return [self._readable(name) for name in fields]

    def get_exclude(self, request: HttpRequest, obj: Model | None = None) -> Any:
        """The raw JSON of a field shown as a table is never in the form as well."""
        readonly = set(self.get_readonly_fields(request, obj))
        raw = [name for name in (*self.json_tables, *self.rounded)
               if self._readable(name) in readonly]
        return [*(super().get_exclude(request, obj) or []), *raw]  # type: ignore[misc]

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        readonly = set(self.get_readonly_fields(request, obj))
        fields = super().get_fields(request, obj)  # type: ignore[misc]
        return list(dict.fromkeys(
            self._readable(name) if self._readable(name) in readonly else name
            for name in fields))
