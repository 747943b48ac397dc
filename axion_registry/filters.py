"""Query parameters shared by every app: FilterSet filters for list endpoints, DRF query
serializer fields for the others, and the one boolean vocabulary (parse_boolean).

Every list endpoint's parameters are a FilterSet (<app>/filtersets.py); every other
endpoint's are a DRF query serializer (<app>/api/queries.py). Bad input of either answers
the project's JSON error (code, a sentence naming the parameter, details), never a 500 and
never silently ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from axion_registry.errors import InvalidInput


class UnrepresentableTime(ValueError):
    pass


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC, the only offset every database stores.

    Python accepts offsets up to 23:59, PostgreSQL refuses 16:00 and more; a time near the
    ends of the calendar may have no UTC equivalent at all.
    """
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise UnrepresentableTime(
            f"{value.isoformat()} has no equivalent in UTC; give a time between years 1 and 9999."
        ) from exc


class UTCDateTimeField(IsoDateTimeField):
    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return as_utc(parsed)
        except UnrepresentableTime as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time filter that compares in UTC and refuses times UTC cannot hold."""

    field_class = UTCDateTimeField


TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})
BOOLEAN_HELP = "true or false (also yes/no, 1/0), in any case; any other value is a 400."


def parse_boolean(value: object) -> bool | None:
    """The API's one boolean vocabulary: None for an absent or empty value, else True or
    False, or ValueError naming the accepted words."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    word = str(value).lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"'{value}' is not a boolean; use true or false (or yes/no, 1/0).")


class StrictBooleanField(forms.Field):
    def to_python(self, value: object) -> bool | None:
        try:
            return parse_boolean(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid_boolean") from exc


class StrictBooleanFilter(django_filters.BooleanFilter):
    """A boolean query parameter in the API's one vocabulary (parse_boolean), refusing
    anything else instead of ignoring it."""

    field_class = StrictBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", BOOLEAN_HELP)
        super().__init__(*args, **kwargs)
        schema_field(self, {"type": "boolean", "description": kwargs["help_text"]})


class RepeatedField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value: object) -> list[str]:
        if value in (None, ""):
            return []
        values = value if isinstance(value, list | tuple) else [value]
        return [str(item) for item in values if item not in (None, "")]


class RepeatedFilter(django_filters.Filter):
    """A parameter that may be repeated (?tag=a&tag=b), read as a list of its non-empty
    values; give it a `method` that applies them all."""

    field_class = RepeatedField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = {"type": "array", "items": {"type": "string"}}
        schema_field(self, {**schema, "description": kwargs.get("help_text", "Repeatable.")})


def schema_field(target: Any, schema: dict[str, Any]) -> None:
    """The OpenAPI schema drf-spectacular shows for one filter (a method filter's own type
    hint would win otherwise, and a class-wide annotation loses the help text)."""
    extend_schema_field(schema)(target)


def filterset_qs(filterset: django_filters.FilterSet, *,
                 error: type[InvalidInput] = InvalidInput, code: str | None = None) -> QuerySet:
    """The filtered queryset, or `error` naming the first bad parameter (every bad one in
    details)."""
    if not filterset.is_valid():
        errors = {field: [str(message) for message in messages]
                  for field, messages in filterset.errors.items()}
        field, messages = next(iter(errors.items()))
        raise error(f"{field}: {messages[0]}", code=code, details=errors)
    return filterset.qs


def query_params_valid(serializer_class: type[serializers.Serializer], params: Any, *,
                       error: type[InvalidInput] = InvalidInput,
                       code: str | None = None) -> dict[str, Any]:
    """The validated query parameters of a non-list endpoint (a DRF query serializer), or
    `error` naming the first bad parameter."""
    query = serializer_class(data=params)
    if not query.is_valid():
        errors = {field: [str(message) for message in messages]
                  for field, messages in query.errors.items()}
        field, messages = next(iter(errors.items()))
        raise error(f"{field}: {messages[0]}", code=code, details=errors)
    return dict(query.validated_data)


@extend_schema_field(OpenApiTypes.STR)
class CommaListParam(serializers.Field):
    """`a,b,c` as a list of its stripped, non-empty items."""

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, str):
            self.fail("invalid")
        return [item.strip() for item in data.split(",") if item.strip()]

    def to_representation(self, value: list[str]) -> str:
        return ",".join(value)

    default_error_messages = {"invalid": "give a comma-separated list."}


@extend_schema_field(OpenApiTypes.INT)
class WholeNumberParam(serializers.Field):
    """Digits 0-9 only (no sign, no space, no other script's digits); empty means absent."""

    default_error_messages = {"invalid": "give a whole number from {min_value} to {max_value}."}

    def __init__(self, *, min_value: int, max_value: int, **kwargs: Any) -> None:
        self.min_value = min_value
        self.max_value = max_value
        kwargs.setdefault("required", False)
        if not kwargs["required"]:
            kwargs.setdefault("default", None)
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data == "":
            return True, None
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> int:
        text = str(data)
        if not (text.isascii() and text.isdigit()) or not (
            self.min_value <= int(text) <= self.max_value
        ):
            self.fail("invalid", min_value=f"{self.min_value:,}", max_value=f"{self.max_value:,}")
        return int(text)

    def to_representation(self, value: int) -> int:
        return value


@extend_schema_field(OpenApiTypes.DATETIME)
class UTCDateTimeParam(serializers.Field):
    """An ISO 8601 time in UTC, parsed as the FilterSets' UTCDateTimeFilter parses it."""

    default_error_messages = {
        "invalid": "give the time in ISO 8601, e.g. 2026-11-27T12:00:00Z.",
        "required": "give the time in ISO 8601, e.g. 2026-11-27T12:00:00Z.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        try:
            parsed = IsoDateTimeField().clean(data)
        except forms.ValidationError:
            self.fail("invalid")
        try:
            return as_utc(parsed)
        except UnrepresentableTime as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class FilteredBySelector:
    """For a list view whose selector applies its `filterset_class` (selectors take
    `filters=`): the filter backend stays declared, so the schema lists the FilterSet's
    parameters, but does not filter a second time."""

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset
