from __future__ import annotations

import django_filters

from abtest_app.choices import Decision, TestState
from abtest_app.models import ABTest
from axion_registry.filters import StrictBooleanFilter


class ABTestFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=TestState.choices, distinct=False)
    model = django_filters.CharFilter(field_name="model__name")
    decision = django_filters.ChoiceFilter(choices=Decision.choices)
    created_by = django_filters.CharFilter(field_name="created_by__username")
    auto_promote = StrictBooleanFilter()
    ordering = django_filters.OrderingFilter(fields=["created_at", "started_at", "ended_at",
                                                     "name"])

    class Meta:
        model = ABTest
        fields = ["state", "model", "decision", "created_by", "auto_promote"]
