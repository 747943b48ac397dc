"""Filter fields shared by every app's FilterSets."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django.utils import timezone
from django_filters.fields import IsoDateTimeField


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
