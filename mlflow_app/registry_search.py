"""MLflow's registry search filters and order_by clauses (parsed by mlflow_app.grammar) as
ORM queries over Axion's RegisteredModel and ModelVersion.

Registered models: `name` (= != LIKE ILIKE IN), `tags.<key>`; order by name,
creation_timestamp, last_updated_timestamp. Versions: `name` (the model's), `version_number`,
`run_id`, `source_path`, `tags.<key>` (also the read-only `axion.stage` and
`axion.version`, which read Axion's columns), creation_timestamp, last_updated_timestamp.
A tag the row lacks never matches, except MLflow's `mlflow.prompt.is_prompt`, which reads
"false" when absent (the client adds `!= 'true'` to every model search). Ties sort by name,
then (versions) newest number first.
"""

from __future__ import annotations

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Cast, Coalesce, Greatest

from axion_registry.db_functions import EpochMs
from mlflow_app import registry_shapes, shapes
from mlflow_app.grammar import Condition, FilterSyntaxError, OrderKey, SearchRules
from mlflow_app.search import Orderable, _ordered, _tag_text, numeric_q, string_q
from models_app.models import ModelVersion, RegisteredModel, StageTransition

PROMPT_TAG = "mlflow.prompt.is_prompt"
TIMESTAMPS = frozenset({"creation_timestamp", "last_updated_timestamp"})

MODEL_RULES = SearchRules(
    entities=frozenset({"tag", "attribute"}),
    string_attributes=frozenset({"name"}),
    numeric_attributes=TIMESTAMPS,
    list_attributes=frozenset({"name"}),
    aliases={"timestamp": "creation_timestamp"},
)
VERSION_RULES = SearchRules(
    entities=frozenset({"tag", "attribute"}),
    string_attributes=frozenset({"name", "run_id", "source_path"}),
    numeric_attributes=TIMESTAMPS | {"version_number"},
    list_attributes=frozenset({"name", "run_id"}),
    aliases={"timestamp": "creation_timestamp", "source": "source_path"},
)
MODEL_COLUMNS = {"name": "name", "creation_timestamp": "created_at",
                 "last_updated_timestamp": "_updated"}
VERSION_COLUMNS = {"name": "model__name", "run_id": "source_run_id",
                   "source_path": "_source", "version_number": "sequence",
                   "creation_timestamp": "created_at", "last_updated_timestamp": "_updated"}
VERSION_TAG_COLUMNS = {registry_shapes.STAGE_TAG: "stage",
                       registry_shapes.SEMVER_TAG: "version"}


def _last_transition(lookup: str) -> Subquery:
    return Subquery(StageTransition.objects.filter(**{lookup: OuterRef("pk")})
                    .order_by("-created_at").values("created_at")[:1])


def last_transition_ms(lookup: str) -> Subquery:
    """The last stage move's time in epoch milliseconds (None when it never moved)."""
    return Subquery(StageTransition.objects.filter(**{lookup: OuterRef("pk")})
                    .order_by("-created_at").values(ms=EpochMs("created_at"))[:1])


def models_annotated(queryset: QuerySet[RegisteredModel]) -> QuerySet[RegisteredModel]:
    """`_updated`: the model's last change or its versions' last stage move."""
    return queryset.annotate(_updated=Greatest(
        Coalesce(_last_transition("model"), F("updated_at")), F("updated_at")))


def versions_annotated(queryset: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    """`_updated`: the last stage move (else the registration); `_source`: where MLflow
    said the version came from, else the artifact's storage name."""
    return queryset.annotate(
        _updated=Coalesce(_last_transition("version"), F("created_at")),
        _source=Coalesce(F("mlflow_source__source"), F("artifact_path"),
                         output_field=TextField()),
    )


def _tag_q(condition: Condition, queryset: QuerySet, number: int,
           columns: dict[str, str]) -> tuple[Q, QuerySet]:
    column = columns.get(condition.key)
    if condition.comparator in ("IS NULL", "IS NOT NULL"):
        present = Q(pk__isnull=False) if column else Q(tags__has_key=condition.key)
        return (present if condition.comparator == "IS NOT NULL" else ~present), queryset
    if column is None:
        alias = f"_tag_{number}"
        text: Cast | Coalesce = _tag_text(condition.key)
        if condition.key == PROMPT_TAG:
            text = Coalesce(text, Value("false"), output_field=TextField())
        queryset = queryset.alias(**{alias: text})
        column = alias
    return string_q(column, condition.comparator, condition.value), queryset


def _attribute_q(condition: Condition, columns: dict[str, str]) -> Q:
    field = columns[condition.key]
    if condition.key in TIMESTAMPS:
        assert isinstance(condition.value, float)  # the grammar checks numeric attributes
        return numeric_q(field, condition.comparator, shapes.from_ms(int(condition.value)))
    if condition.key == "version_number":
        assert isinstance(condition.value, float)
        return numeric_q(field, condition.comparator, condition.value)
    return string_q(field, condition.comparator, condition.value)


def _filtered(queryset: QuerySet, conditions: list[Condition], columns: dict[str, str],
              tag_columns: dict[str, str]) -> QuerySet:
    for number, condition in enumerate(conditions):
        if condition.kind == "tag":
            q, queryset = _tag_q(condition, queryset, number, tag_columns)
        else:
            q = _attribute_q(condition, columns)
        queryset = queryset.filter(q)
    return queryset


def models_filter(queryset: QuerySet[RegisteredModel],
                  conditions: list[Condition]) -> QuerySet[RegisteredModel]:
    return _filtered(queryset, conditions, MODEL_COLUMNS, {})


def versions_filter(queryset: QuerySet[ModelVersion],
                    conditions: list[Condition]) -> QuerySet[ModelVersion]:
    return _filtered(queryset, conditions, VERSION_COLUMNS, VERSION_TAG_COLUMNS)


def _clauses(orders: list[OrderKey], columns: dict[str, str]) -> list:
    clauses = []
    for order in orders:
        if order.kind != "attribute":
            raise FilterSyntaxError(f"cannot order by {order.kind} values; order by "
                                    f"{', '.join(sorted(columns))}.", position=0, token=order.key)
        expression: Orderable = F(columns[order.key])
        clauses.append(_ordered(expression, order.ascending))
    return clauses


def models_order(queryset: QuerySet[RegisteredModel],
                 orders: list[OrderKey]) -> QuerySet[RegisteredModel]:
    return queryset.order_by(*_clauses(orders, MODEL_COLUMNS), "name")


def versions_order(queryset: QuerySet[ModelVersion],
                   orders: list[OrderKey]) -> QuerySet[ModelVersion]:
    """By the clauses (MLflow's default: last updated first), then name, then newest."""
    clauses = _clauses(orders, VERSION_COLUMNS) or [F("_updated").desc()]
    return queryset.order_by(*clauses, "model__name", "-sequence")
