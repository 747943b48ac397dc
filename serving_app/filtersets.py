from __future__ import annotations

import django_filters

from axion_registry.filters import UTCDateTimeFilter
from serving_app.models import DeploymentEvent


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
