from __future__ import annotations

import re

import django_filters
from django.db import connections
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from axion_registry.errors import InvalidInput
from axion_registry.filters import RepeatedFilter, UTCDateTimeFilter
from models_app.choices import Framework, Stage
from models_app.models import (
    AliasChange,
    ModelChange,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    StageTransition,
    VersionMetric,
)

NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
METRIC_CONDITION = re.compile(
    rf"^\s*(?P<key>[\w.\-/ ]{{1,250}}?)\s*(?P<op>>=|<=|>|<|=)\s*(?P<value>{NUMBER})\s*$"
)
LOOKUPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt", "=": "exact"}


def filter_by_tag(queryset: QuerySet, field: str, values: list[str]) -> QuerySet:
    """`key` means the tag is present, `key:value` that it has that value. On PostgreSQL
    both are containment operators (`tags ? key`, `tags @> {key: value}`) that the GIN
    index on tags answers; SQLite compares the extracted value."""
    containment = connections[queryset.db].vendor == "postgresql"
    for number, value in enumerate(values):
        key, sep, expected = value.partition(":")
        if sep and containment:
            queryset = queryset.filter(**{f"{field}__contains": {key: expected}})
        elif sep:
            alias = f"_tag_{number}"
            queryset = queryset.alias(**{alias: KeyTransform(key, field)}).filter(
                **{alias: expected}
            )
        else:
            queryset = queryset.filter(**{f"{field}__has_key": key})
    return queryset


def parse_metric_condition(condition: str) -> tuple[str, str, float]:
    """`auc>=0.7` -> ("auc", "gte", 0.7): the metric, a Django lookup and the bound."""
    match = METRIC_CONDITION.match(condition)
    if not match:
        raise InvalidInput(
            f"'{condition}' is not a metric condition; write it like metric=auc>=0.7.",
            code="invalid_search",
        )
    return match["key"], LOOKUPS[match["op"]], float(match["value"])


def filter_by_metric(queryset: QuerySet, conditions: list[str]) -> QuerySet:
    """Versions whose metrics meet conditions such as `auc>=0.7` or `rmse<0.05`, all of
    them: each one a range of the (key, value) index of VersionMetric."""
    for condition in conditions:
        key, lookup, bound = parse_metric_condition(condition)
        queryset = queryset.filter(pk__in=VersionMetric.objects.filter(
            key=key, **{f"value__{lookup}": bound}).values("version_id"))
    return queryset


class TagFilter(RepeatedFilter):
    def filter(self, queryset: QuerySet, value: list[str]) -> QuerySet:
        return filter_by_tag(queryset, self.field_name, value) if value else queryset


class MetricFilter(RepeatedFilter):
    def filter(self, queryset: QuerySet, value: list[str]) -> QuerySet:
        return filter_by_metric(queryset, value) if value else queryset


class RegisteredModelFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    tag = TagFilter(field_name="tags", help_text="`key` or `key:value`; repeat for all of them.")

    class Meta:
        model = RegisteredModel
        fields = ["name", "tag"]


# Each `ordering` name's columns; every version list ends with the rest of VERSION_KEY, so
# its order is unique (one semver per model) and a keyset page can start after any row.
ORDERING_COLUMNS = {"created_at": ("created_at",), "version": ("major", "minor", "patch"),
                    "name": ("model__name",), "sequence": ("sequence",)}
VERSION_KEY = ("model_id", "-major", "-minor", "-patch")


def version_order(requested: list[str]) -> list[str]:
    """The unique order of a version list: the requested columns (numeric semver for
    `version`), then the columns of VERSION_KEY not named yet."""
    terms = []
    for name in requested:
        sign = "-" if name.startswith("-") else ""
        terms += [sign + column for column in ORDERING_COLUMNS[name.lstrip("-")]]
    named = {term.lstrip("-") for term in terms}
    return terms + [term for term in VERSION_KEY if term.lstrip("-") not in named]


class ModelVersionFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(
        field_name="model__name", lookup_expr="icontains",
        help_text="Case-insensitive substring of the model name.",
    )
    # distinct=False: no join here can repeat a row, and DISTINCT over the JSON columns
    # costs more than the rest of the search.
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
    framework = django_filters.MultipleChoiceFilter(choices=Framework.choices, distinct=False)
    tag = TagFilter(field_name="tags", help_text="`key` or `key:value`; repeat for all of them.")
    metric = MetricFilter(
        field_name="metrics", help_text="A threshold such as `auc>=0.7`; repeat for all of them."
    )
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lte")
    run_id = django_filters.CharFilter(field_name="source_run_id")
    sequence = django_filters.NumberFilter(
        field_name="sequence", help_text="The version's number within its model (1, 2, 3).")
    alias = django_filters.CharFilter(field_name="aliases__name",
                                      help_text="Versions an alias of this name points at.")
    ordering = django_filters.OrderingFilter(
        fields=(("created_at", "created_at"), ("major", "version"), ("model__name", "name"),
                ("sequence", "sequence")),
    )

    class Meta:
        model = ModelVersion
        fields = ["name", "stage", "framework", "tag", "metric", "sequence", "alias"]

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        ordering = self.form.cleaned_data.get("ordering") or []  # the parameter's names
        return queryset.order_by(*version_order(list(ordering)))


class StageTransitionFilterSet(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__name")
    version = django_filters.CharFilter(field_name="version__version")
    actor = django_filters.CharFilter(field_name="actor__username")
    kind = django_filters.MultipleChoiceFilter(choices=StageTransition.Kind.choices,
                                               distinct=False)
    after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = StageTransition
        fields = ["model", "version", "actor", "kind"]


class ModelChangeFilterSet(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__name")
    actor = django_filters.CharFilter(field_name="actor__username")
    field = django_filters.CharFilter(field_name="changes", lookup_expr="has_key")
    after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = ModelChange
        fields = ["model", "actor", "field"]


class PromotionRequestFilterSet(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__name")
    version = django_filters.CharFilter(field_name="version__version")
    status = django_filters.MultipleChoiceFilter(choices=PromotionRequest.Status.choices)
    requested_by = django_filters.CharFilter(field_name="requested_by__username")
    decided_by = django_filters.CharFilter(field_name="decided_by__username")

    class Meta:
        model = PromotionRequest
        fields = ["model", "version", "status", "requested_by", "decided_by"]


class AliasChangeFilterSet(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__name")
    alias = django_filters.CharFilter(field_name="alias")
    actor = django_filters.CharFilter(field_name="actor__username")
    source = django_filters.CharFilter(field_name="source")
    after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = AliasChange
        fields = ["model", "alias", "actor", "source"]
