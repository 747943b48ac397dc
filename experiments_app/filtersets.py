"""Run search filters: experiment, status, params, tags, metric thresholds on latest values.

Metric conditions are parsed with the registry's own grammar (models_app.filtersets:
`auc>=0.7`, operators >= <= > < =); tags use its `key` / `key:value` tag filter, since a
run's tags are a JSON object like a version's. Metrics differ: they live in LatestMetric
rows, not in a JSON column, so the condition is applied as an EXISTS over that table.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet

from axion_registry.filters import UTCDateTimeFilter
from experiments_app.choices import RunStatus
from experiments_app.errors import InvalidSearch
from experiments_app.models import LatestMetric, Param, Run
from experiments_app.tracking_input import as_id
from models_app.filtersets import filter_by_tag, parse_metric_condition

REPEATABLE = ("param", "tag", "metric")


def filter_by_latest_metric(queryset: QuerySet, conditions: list[str]) -> QuerySet:
    """Every condition must hold on the run's latest value; a NaN value satisfies none."""
    for condition in conditions:
        key, lookup, bound = parse_metric_condition(condition)
        queryset = queryset.filter(
            Exists(LatestMetric.objects.filter(
                run=OuterRef("pk"), key=key, is_nan=False, **{f"value__{lookup}": bound}
            ))
        )
    return queryset


def filter_by_param(queryset: QuerySet, values: list[str]) -> QuerySet:
    """`key:value` means the param has exactly that (string) value, `key` that it is logged."""
    for value in values:
        key, sep, expected = value.partition(":")
        if not key:
            raise InvalidSearch(f"'{value}' is not a param filter; write it like param=lr:0.1.")
        condition = Q(run=OuterRef("pk"), key=key.strip())
        if sep:
            condition &= Q(value=expected)
        queryset = queryset.filter(Exists(Param.objects.filter(condition)))
    return queryset


class RunFilterSet(django_filters.FilterSet):
    experiment = django_filters.CharFilter(method="filter_experiment")
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices, distinct=False)
    name = django_filters.CharFilter(lookup_expr="icontains")
    parent = django_filters.CharFilter(field_name="parent__run_id")
    user = django_filters.CharFilter(field_name="user__username")
    started_after = UTCDateTimeFilter(field_name="start_time", lookup_expr="gte")
    started_before = UTCDateTimeFilter(field_name="start_time", lookup_expr="lte")

    class Meta:
        model = Run
        fields = ["experiment", "status", "name", "parent", "user"]

    def filter_experiment(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Comma-separated experiment ids or names."""
        refs = [ref.strip() for ref in value.split(",") if ref.strip()]
        ids = [as_id(ref) for ref in refs if as_id(ref) is not None]
        names = [ref for ref in refs if not (ref.isascii() and ref.isdigit())]
        return queryset.filter(Q(experiment_id__in=ids) | Q(experiment__name__in=names))

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        data = self.data
        lists: dict[str, list[str]] = {
            name: (data.getlist(name) if hasattr(data, "getlist") else _as_list(data.get(name)))
            for name in REPEATABLE
        }
        queryset = filter_by_param(queryset, lists["param"])
        if lists["tag"]:
            queryset = filter_by_tag(queryset, "tags", lists["tag"])
        return filter_by_latest_metric(queryset, lists["metric"])


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def run_filter(queryset: QuerySet, filters: Any) -> QuerySet:
    filterset = RunFilterSet(filters, queryset)
    if not filterset.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in filterset.errors.items()}
        first = next(iter(errors.items()))
        raise InvalidSearch(f"{first[0]}: {first[1][0]}", details=errors)
    return filterset.qs
