"""The query parameters of serving's list endpoints: deployments and per-minute latency."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from axion_registry.filters import UTCDateTimeFilter
from serving_app.models import DeploymentEvent, LatencyMinute

LATENCY_DEFAULT_MINUTES = 60
LATENCY_MAX_MINUTES = 60 * 24 * 31


class DeploymentEventFilterSet(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__name")
    version = django_filters.CharFilter(field_name="version__version")
    kind = django_filters.MultipleChoiceFilter(choices=DeploymentEvent.Kind.choices,
                                               distinct=False)
    warmup_status = django_filters.ChoiceFilter(choices=DeploymentEvent.WarmUp.choices)
    since = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = DeploymentEvent
        fields = ["model", "version", "kind", "warmup_status", "source", "since"]


class WholeNumberFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class LatencyMinuteFilterSet(django_filters.FilterSet):
    """`minutes`: how far back, a whole number from 1 to 44640 (31 days); 60 when absent."""

    minutes = WholeNumberFilter(
        method="in_last_minutes", min_value=1, max_value=LATENCY_MAX_MINUTES,
        help_text=f"How far back, in minutes (default {LATENCY_DEFAULT_MINUTES}, at most "
                  f"{LATENCY_MAX_MINUTES}, 31 days).",
    )

    class Meta:
        model = LatencyMinute
        fields = ["minutes"]

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any):
        data = data.copy() if data is not None else {}
        if data.get("minutes") in (None, ""):
            data["minutes"] = LATENCY_DEFAULT_MINUTES
        super().__init__(data, *args, **kwargs)

    def in_last_minutes(self, queryset: QuerySet[LatencyMinute], name: str,
                        value: int) -> QuerySet[LatencyMinute]:
        return queryset.filter(minute__gte=timezone.now() - timedelta(minutes=value))
