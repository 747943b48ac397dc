"""Experiment and run search: experiment, status, params, tags, metric thresholds on latest
values, ordering.

Metric conditions are parsed with the registry's own grammar (models_app.filtersets:
`auc>=0.7`, operators >= <= > < =); tags use its `key` / `key:value` tag filter, since a
run's tags are a JSON object like a version's. Metrics differ: they live in LatestMetric
rows, not in a JSON column, so the condition is applied as an EXISTS over that table.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Exists, F, FilteredRelation, OuterRef, Q, QuerySet

from axion_registry.filters import (
    BOOLEAN_HELP,
    RepeatedFilter,
    StrictBooleanFilter,
    UTCDateTimeFilter,
    filterset_qs,
)
from experiments_app.choices import RunStatus
from experiments_app.errors import InvalidSearch
from experiments_app.models import Experiment, LatestMetric, Param, Run
from experiments_app.tracking_input import as_id
from models_app.filtersets import filter_by_tag, parse_metric_condition

ORDER_FIELDS = {"start_time", "end_time", "name", "status"}


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


class ExperimentFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Substring of the name.")
    archived = StrictBooleanFilter()
    tag = RepeatedFilter(method="filter_tag", help_text="`key` or `key:value`; repeat.")

    class Meta:
        model = Experiment
        fields = ["name", "archived", "tag"]

    def filter_tag(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return filter_by_tag(queryset, "tags", value)


class RunFilterSet(django_filters.FilterSet):
    """Run search; `order_by` and `desc` order the result (newest first without them)."""

    experiment = django_filters.CharFilter(
        method="filter_experiment", help_text="Experiment ids or names, comma-separated."
    )
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices, distinct=False)
    name = django_filters.CharFilter(lookup_expr="icontains",
                                     help_text="Substring of the run name.")
    parent = django_filters.CharFilter(field_name="parent__run_id",
                                       help_text="Runs nested under this run_id.")
    user = django_filters.CharFilter(field_name="user__username",
                                     help_text="Username of who started the run.")
    started_after = UTCDateTimeFilter(field_name="start_time", lookup_expr="gte")
    started_before = UTCDateTimeFilter(field_name="start_time", lookup_expr="lte")
    param = RepeatedFilter(method="filter_param", help_text=(
        "`key:value` (exact string) or `key`; repeat for all of them."))
    tag = RepeatedFilter(method="filter_tag",
                         help_text="`key:value` or `key`; repeat for all of them.")
    metric = RepeatedFilter(method="filter_metric", help_text=(
        "A threshold on the latest value, such as `auc>=0.7`; repeat."))
    order_by = django_filters.CharFilter(method="filter_nothing", help_text=(
        "metric.<key>, param.<key>, start_time, end_time, name or status; runs without the "
        "value sort last."))
    desc = StrictBooleanFilter(method="filter_nothing",
                               help_text=f"Descending order: {BOOLEAN_HELP}")

    class Meta:
        model = Run
        fields = ["experiment", "status", "name", "parent", "user"]

    def filter_experiment(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        refs = [ref.strip() for ref in value.split(",") if ref.strip()]
        ids = [as_id(ref) for ref in refs if as_id(ref) is not None]
        names = [ref for ref in refs if not (ref.isascii() and ref.isdigit())]
        return queryset.filter(Q(experiment_id__in=ids) | Q(experiment__name__in=names))

    def filter_param(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return filter_by_param(queryset, value)

    def filter_tag(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return filter_by_tag(queryset, "tags", value)

    def filter_metric(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return filter_by_latest_metric(queryset, value)

    def filter_nothing(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset  # order_by and desc order the result in filter_queryset

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        return runs_order(queryset, self.form.cleaned_data.get("order_by") or None,
                          descending=bool(self.form.cleaned_data.get("desc")))


def runs_order(queryset: QuerySet, order_by: str | None, *, descending: bool) -> QuerySet:
    """By a field, a metric's latest value (`metric.auc`) or a param (`param.lr`); runs
    without it (or NaN) sort last, and run_id breaks ties. Without order_by: newest first."""
    if not order_by:
        return queryset.order_by("-start_time", "run_id")
    kind, _, key = order_by.partition(".")
    expression: F
    if kind == "metric" and key:
        queryset = queryset.annotate(_order=FilteredRelation(
            "latest_metrics",
            condition=Q(latest_metrics__key=key, latest_metrics__is_nan=False),
        ))
        expression = F("_order__value")
    elif kind == "param" and key:
        queryset = queryset.annotate(
            _order=FilteredRelation("params", condition=Q(params__key=key))
        )
        expression = F("_order__value")
    elif order_by in ORDER_FIELDS:
        expression = F(order_by)
    else:
        raise InvalidSearch(
            f"Cannot order by '{order_by}'; use metric.<key>, param.<key>, "
            f"{', '.join(sorted(ORDER_FIELDS))}."
        )
    ordered = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    return queryset.order_by(ordered, "run_id")


def experiment_filter(queryset: QuerySet, filters: Any) -> QuerySet:
    return filterset_qs(ExperimentFilterSet(filters, queryset), error=InvalidSearch)


def run_filter(queryset: QuerySet, filters: Any) -> QuerySet:
    """The runs of `queryset` matching (and ordered by) the search parameters `filters`."""
    return filterset_qs(RunFilterSet(filters, queryset), error=InvalidSearch)
