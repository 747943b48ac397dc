"""Parsed MLflow filters and order_by clauses (mlflow_app.grammar) as ORM queries.

Metrics compare the run's latest value (LatestMetric, NaN never matches), params their
string value, tags the run's or experiment's JSON tags. A run's name and parent live in
columns, so `tags.mlflow.runName` and `tags.mlflow.parentRunId` read those. `!=` matches
runs that have the key with another value, as on `mlflow server`. Missing values sort last.
"""

from __future__ import annotations

from typing import Any

from django.db.models import (
    CharField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.expressions import Expression, OrderBy
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Concat

from experiments_app.models import Experiment, LatestMetric, Param, Run
from mlflow_app import shapes
from mlflow_app.grammar import Condition, OrderKey, like_to_regex
from mlflow_app.models import RunInput

Orderable = F | Expression | Subquery
NUMERIC_LOOKUPS = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
RUN_COLUMNS = {"run_id": "run_id", "run_name": "name", "status": "status",
               "user_id": "user__username", "start_time": "start_time",
               "end_time": "end_time", "artifact_uri": "_artifact_uri"}
TAG_COLUMNS = {shapes.RUN_NAME_TAG: "name", shapes.PARENT_TAG: "parent__run_id"}
EXPERIMENT_COLUMNS = {"name": "name", "experiment_id": "pk", "creation_time": "created_at",
                      "last_update_time": "created_at"}


def _tag_text(key: str) -> Cast:
    """A tag's value as plain text (a JSON key lookup would compare JSON, not text)."""
    return Cast(KeyTextTransform(key, "tags"), TextField())


def string_q(field: str, comparator: str, value: Any) -> Q:
    if comparator == "=":
        return Q(**{field: value})
    if comparator == "!=":
        return ~Q(**{field: value}) & Q(**{f"{field}__isnull": False})
    if comparator == "LIKE":
        return Q(**{f"{field}__regex": like_to_regex(value)})
    if comparator == "ILIKE":
        return Q(**{f"{field}__iregex": like_to_regex(value)})
    if comparator == "IN":
        return Q(**{f"{field}__in": list(value)})
    if comparator == "NOT IN":
        return ~Q(**{f"{field}__in": list(value)})
    raise ValueError(comparator)  # the grammar let through a comparator it should not


def numeric_q(field: str, comparator: str, value: Any) -> Q:
    if comparator == "!=":
        return ~Q(**{field: value}) & Q(**{f"{field}__isnull": False})
    return Q(**{f"{field}__{NUMERIC_LOOKUPS[comparator]}": value})


def _status_value(condition: Condition) -> Any:
    if isinstance(condition.value, tuple):
        return tuple(item.lower() for item in condition.value)
    return str(condition.value).lower()


def _moment(condition: Condition) -> Any:
    """A time attribute's bound (milliseconds in the filter) as a datetime."""
    if not isinstance(condition.value, float):
        raise ValueError(condition.value)  # the grammar checks that times are numbers
    return shapes.from_ms(int(condition.value))


def _attribute_q(condition: Condition) -> Q:
    field = RUN_COLUMNS[condition.key]
    if condition.key in ("start_time", "end_time"):
        return numeric_q(field, condition.comparator, _moment(condition))
    if condition.key == "status":
        comparator = {"LIKE": "ILIKE"}.get(condition.comparator, condition.comparator)
        return string_q(field, comparator, _status_value(condition))
    return string_q(field, condition.comparator, condition.value)


def _metric_q(condition: Condition) -> Q:
    rows = LatestMetric.objects.filter(run=OuterRef("pk"), key=condition.key, is_nan=False)
    return Q(Exists(rows.filter(numeric_q("value", condition.comparator, condition.value))))


def _param_q(condition: Condition) -> Q:
    rows = Param.objects.filter(run=OuterRef("pk"), key=condition.key)
    if condition.comparator == "IS NULL":
        return ~Q(Exists(rows))
    if condition.comparator == "IS NOT NULL":
        return Q(Exists(rows))
    return Q(Exists(rows.filter(string_q("value", condition.comparator, condition.value))))


def _tag_q(condition: Condition, alias: str, queryset: QuerySet) -> tuple[Q, QuerySet]:
    column = TAG_COLUMNS.get(condition.key) if queryset.model is Run else None
    if condition.comparator in ("IS NULL", "IS NOT NULL"):
        if column is not None:
            present = Q(**{f"{column}__isnull": False}) & ~Q(**{column: ""})
        else:
            present = Q(tags__has_key=condition.key)
        return (present if condition.comparator == "IS NOT NULL" else ~present), queryset
    if column is None:
        queryset = queryset.alias(**{alias: _tag_text(condition.key)})
        column = alias
    return string_q(column, condition.comparator, condition.value), queryset


def _dataset_q(condition: Condition) -> Q:
    rows: QuerySet[Any]
    if condition.key == "context":
        field = "_context"
        rows = RunInput.objects.filter(run=OuterRef("pk")).alias(
            _context=_tag_text("mlflow.data.context"))
    else:
        field = f"dataset__{condition.key}"
        rows = RunInput.objects.filter(run=OuterRef("pk"))
    return Q(Exists(rows.filter(string_q(field, condition.comparator, condition.value))))


def runs_filter(queryset: QuerySet[Run], conditions: list[Condition]) -> QuerySet[Run]:
    if any(c.kind == "attribute" and c.key == "artifact_uri" for c in conditions):
        queryset = queryset.alias(_artifact_uri=Concat(Value("mlflow-artifacts:/runs/"),
                                                       F("run_id")))
    for number, condition in enumerate(conditions):
        if condition.kind == "metric":
            queryset = queryset.filter(_metric_q(condition))
        elif condition.kind == "param":
            queryset = queryset.filter(_param_q(condition))
        elif condition.kind == "tag":
            q, queryset = _tag_q(condition, f"_tag_{number}", queryset)
            queryset = queryset.filter(q)
        elif condition.kind == "dataset":
            queryset = queryset.filter(_dataset_q(condition))
        else:
            queryset = queryset.filter(_attribute_q(condition))
    return queryset


def _run_order_expression(order: OrderKey) -> Orderable:
    if order.kind == "metric":
        return Subquery(LatestMetric.objects.filter(
            run=OuterRef("pk"), key=order.key, is_nan=False).values("value")[:1])
    if order.kind == "param":
        return Subquery(Param.objects.filter(run=OuterRef("pk"), key=order.key)
                        .values("value")[:1])
    if order.kind == "tag":
        column = TAG_COLUMNS.get(order.key)
        return F(column) if column else _tag_text(order.key)
    return F(RUN_COLUMNS[order.key] if order.key != "artifact_uri" else "run_id")


def _ordered(expression: Orderable, ascending: bool) -> OrderBy:
    return expression.asc(nulls_last=True) if ascending else expression.desc(nulls_last=True)


def runs_order(queryset: QuerySet[Run], orders: list[OrderKey]) -> QuerySet[Run]:
    """Ordered by the clauses, then (as MLflow) newest first; run_id breaks ties."""
    clauses = [_ordered(_run_order_expression(order), order.ascending) for order in orders]
    return queryset.order_by(*clauses, F("start_time").desc(), "run_id")


def experiments_filter(queryset: QuerySet[Experiment],
                       conditions: list[Condition]) -> QuerySet[Experiment]:
    for number, condition in enumerate(conditions):
        if condition.kind == "tag":
            q, queryset = _tag_q(condition, f"_tag_{number}", queryset)
            queryset = queryset.filter(q)
            continue
        field = EXPERIMENT_COLUMNS[condition.key]
        if condition.key in ("creation_time", "last_update_time"):
            queryset = queryset.filter(numeric_q(field, condition.comparator,
                                                 _moment(condition)))
        elif condition.key == "experiment_id":
            if condition.comparator in ("LIKE", "ILIKE"):
                queryset = queryset.alias(_id_text=Cast("pk", CharField()))
            queryset = queryset.filter(_experiment_id_q(condition))
        else:
            queryset = queryset.filter(string_q(field, condition.comparator, condition.value))
    return queryset


def _experiment_id_q(condition: Condition) -> Q:
    values = condition.value if isinstance(condition.value, tuple) else (str(condition.value),)
    ids = [int(value) for value in values if value.isascii() and value.isdigit()]
    if condition.comparator in ("=", "IN"):
        return Q(pk__in=ids)
    if condition.comparator in ("!=", "NOT IN"):
        return ~Q(pk__in=ids)
    return string_q("_id_text", condition.comparator, condition.value)


def experiments_order(queryset: QuerySet[Experiment],
                      orders: list[OrderKey]) -> QuerySet[Experiment]:
    clauses = []
    for order in orders:
        expression: Orderable = (_tag_text(order.key) if order.kind == "tag"
                                  else F(EXPERIMENT_COLUMNS[order.key]))
        clauses.append(_ordered(expression, order.ascending))
    return queryset.order_by(*clauses, F("created_at").desc(), "-pk")
