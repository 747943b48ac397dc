"""Reads for MLflow's model-registry protocol: models and versions by MLflow name, number
and alias (deleted ones hidden), searches, and answers in MLflow's shape.

A version's MLflow number is Axion's per-model `ModelVersion.sequence`; aliases are Axion's
`ModelAlias` rows. Answers for a page of rows take a constant number of queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from django.db.models import Case, CharField, Max, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from axion_registry.compiled import CompiledRows, CompiledShapes
from axion_registry.db_functions import EpochMs
from mlflow_app import registry_shapes as rshapes
from mlflow_app.errors import MlflowError, invalid, not_found
from mlflow_app.grammar import Condition, OrderKey, parse_checked_filter, parse_checked_order_by
from mlflow_app.models import VersionDeletion
from mlflow_app.registry_search import (
    MODEL_RULES,
    VERSION_RULES,
    last_transition_ms,
    models_annotated,
    models_filter,
    models_order,
    versions_annotated,
    versions_filter,
    versions_order,
)
from models_app import selectors as axion
from models_app.errors import AliasNotFound
from models_app.models import ModelAlias, ModelVersion, RegisteredModel

# What an answer reads of a version, as one row of columns: no model instances (building
# them, with django-fsm's state tracking, was most of a search's time) and none of the
# large JSON columns.
VERSION_FACTS = ("pk", "model_id", "model__name", "sequence", "version", "stage",
                 "_created_ms", "_updated_ms", "created_by__username", "description", "_source",
                 "source_run_id", "tags", "load_check_status")
VersionRow = dict[str, Any]


def _facts(queryset: QuerySet[ModelVersion]) -> QuerySet[ModelVersion, VersionRow]:
    """The rows of VERSION_FACTS, timestamps as epoch milliseconds from the database."""
    return queryset.annotate(
        _created_ms=EpochMs("created_at"),
        _updated_ms=Coalesce(last_transition_ms("version"), EpochMs("created_at")),
    ).values(*VERSION_FACTS)


def _version_rows(queryset: QuerySet[ModelVersion]) -> QuerySet[ModelVersion, VersionRow]:
    return _facts(versions_annotated(queryset))


def visible_models() -> QuerySet[RegisteredModel]:
    return RegisteredModel.objects.filter(mlflow_deletion__isnull=True)


def visible_versions() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(mlflow_deletion__isnull=True,
                                       model__mlflow_deletion__isnull=True)


def model_by_name(name: str) -> RegisteredModel:
    found = visible_models().filter(name=name).first() if name else None
    if found is None:
        raise not_found(f"Registered Model with name={name} not found.")
    return found


def version_by_number(model: RegisteredModel, number: str) -> ModelVersion:
    version = axion.version_by_sequence(model=model, sequence=rshapes.version_number(number))
    if VersionDeletion.objects.filter(version=version).exists():
        raise not_found(f"Model Version (name={model.name}, version={number}) not found.")
    return version


def version_named(name: str, number: str) -> ModelVersion:
    """A visible version by its model's name and its MLflow number, in one query; a miss is
    answered as model_by_name and version_by_number answer it."""
    try:
        sequence = rshapes.version_number(number)
    except rshapes.ShapeError:
        sequence = None
    found = list(visible_versions().select_related("model", "created_by").filter(
        model__name=name, sequence=sequence)[:1]) if name and sequence else []
    return found[0] if found else version_by_number(model_by_name(name), number)


def version_latest(model: RegisteredModel) -> ModelVersion | None:
    return visible_versions().filter(model=model).order_by("-sequence").select_related(
        "model").first()


def version_by_alias(model: RegisteredModel, alias: str) -> ModelVersion:
    """The version an alias points at; 'latest' is the newest version (as MLflow)."""
    if alias.lower() == "latest":
        latest = version_latest(model)
        if latest is None:
            raise not_found(f"Latest version not found for model {model.name}.")
        return latest
    try:
        return axion.version_by_alias(model=model, alias=alias)
    except AliasNotFound as exc:
        # MLflow answers a missing alias with INVALID_PARAMETER_VALUE, not a 404.
        raise invalid(f"Registered model alias {alias} not found.") from exc


# --- searches -----------------------------------------------------------------------------

def models_search(*, filter_string: str, order_by: list[str], offset: int,
                  limit: int) -> list[RegisteredModel]:
    """One page of models plus one more (so the caller knows whether a page follows)."""
    conditions = parse_checked_filter(filter_string, MODEL_RULES)
    orders = [parse_checked_order_by(clause, MODEL_RULES) for clause in order_by]
    queryset = models_annotated(visible_models().select_related("owner"))
    queryset = models_order(models_filter(queryset, conditions), orders)
    return list(queryset[offset:offset + limit + 1])


# A search's shape: its conditions with the compared text and numbers left out (they are
# the parameters), its order and its page; the values: those texts and numbers, in order.
SearchShape = tuple[tuple[Condition, ...], tuple[OrderKey, ...], int, int]


def _is_parameter(condition: Condition) -> bool:
    """Whether a condition's value is a parameter of its shape's SQL (text or a number)."""
    return isinstance(condition.value, (str, float))


def _search_queryset(shape: SearchShape,
                     values: Sequence[object]) -> QuerySet[ModelVersion, VersionRow]:
    conditions, orders, offset, limit = shape
    given = iter(values)
    filled = [replace(condition, value=next(given))  # type: ignore[arg-type]
              if _is_parameter(condition) else condition for condition in conditions]
    queryset = versions_order(versions_filter(versions_annotated(visible_versions()),
                                              filled), list(orders))
    return _facts(queryset)[offset:offset + limit + 1]


def _search_samples(shape: SearchShape) -> list[object]:
    """Values no search compares with: text with NULs, numbers no version has (and every
    numeric field takes: a timestamp of 1935)."""
    return [f"\x00sample {number}\x00" if isinstance(condition.value, str)
            else float(-(2**40) - number)
            for number, condition in enumerate(shape[0]) if _is_parameter(condition)]


# Compiling a search through the ORM cost three times running it (220 versions: 4.3 ms of
# 5.6 in SQLite), and the same few shapes come back call after call.
_SEARCHES = CompiledShapes(_search_queryset, _search_samples)


def versions_search(*, filter_string: str, order_by: list[str], offset: int,
                    limit: int) -> list[VersionRow]:
    conditions = parse_checked_filter(filter_string, VERSION_RULES)
    orders = [parse_checked_order_by(clause, VERSION_RULES) for clause in order_by]
    shape: SearchShape = (
        tuple(replace(condition, position=0, value=type(condition.value)()
                      if isinstance(condition.value, (str, float)) else condition.value)
              for condition in conditions),
        tuple(orders), offset, limit)
    return _SEARCHES.rows(shape, [condition.value for condition in conditions
                                  if _is_parameter(condition)])


# --- answers ------------------------------------------------------------------------------


def versions_answer(rows: list[VersionRow],
                    aliases: dict[int, list[str]] | None = None) -> list[dict[str, Any]]:
    """Versions (rows of VERSION_FACTS) in MLflow's shape; `aliases` ({version id: names},
    every alias of the rows' models) when the caller has read them already."""
    if aliases is None:
        aliases = axion.aliases_by_model(models={row["model_id"] for row in rows})
    return [rshapes.version(rshapes.VersionFacts(
        model_name=row["model__name"], number=row["sequence"], semver=row["version"],
        stage=row["stage"], created_ms=row["_created_ms"], updated_ms=row["_updated_ms"],
        username=row["created_by__username"] or "", description=row["description"],
        source=row["_source"], run_id=row["source_run_id"], tags=row["tags"] or {},
        aliases=aliases.get(row["pk"], []), load_check_status=row["load_check_status"],
    )) for row in rows]


# The two reads behind most single-version answers, compiled once (axion_registry.compiled).
_VERSION_BY_PK = CompiledRows(
    lambda pk: _version_rows(ModelVersion.objects.filter(pk=pk)),
    samples=[-(2**62) + 7])
_VERSION_BY_ALIAS = CompiledRows(
    lambda name, alias: _version_rows(visible_versions().filter(model__name=name,
                                                                aliases__name=alias)),
    samples=["\x00sample model\x00", "\x00sample alias\x00"])


def version_answer(version: ModelVersion) -> dict[str, Any]:
    return versions_answer(_VERSION_BY_PK.rows(version.pk))[0]


def version_answer_by_alias(name: str, alias: str) -> dict[str, Any]:
    """The answer for the version an alias of model `name` names: the version's row found
    through the alias in one query (the hot path of `models:/<name>@<alias>`); anything
    else, and every refusal, as version_by_alias answers it."""
    rows = [] if alias.lower() == "latest" else _VERSION_BY_ALIAS.rows(name, alias)
    if rows:
        return versions_answer(rows)[0]
    return version_answer(version_by_alias(model_by_name(name), alias))


def latest_versions(models: list[RegisteredModel],
                    stages: list[str] | None = None) -> dict[int, list[VersionRow]]:
    """Per model, the newest version in each MLflow stage (all four unless `stages`)."""
    wanted = set(stages or rshapes.MLFLOW_STAGES)
    best: dict[tuple[int, str], tuple[int, int]] = {}
    rows = visible_versions().filter(model__in=models).values_list(
        "model_id", "stage", "sequence", "pk")
    for model_id, stage, sequence, pk in rows:
        shown = rshapes.mlflow_stage(stage)
        if shown in wanted and sequence > best.get((model_id, shown), (0, 0))[0]:
            best[(model_id, shown)] = (sequence, pk)
    chosen = {row["pk"]: row for row in _version_rows(
        ModelVersion.objects.filter(pk__in=[pk for _, pk in best.values()]))}
    found: dict[int, list[VersionRow]] = defaultdict(list)
    for (model_id, _), (_, pk) in sorted(best.items(), key=lambda item: item[1]):
        found[model_id].append(chosen[pk])
    return found


def models_answer(models: list[RegisteredModel]) -> list[dict[str, Any]]:
    if models and not hasattr(models[0], "_updated"):
        by_pk = models_annotated(RegisteredModel.objects.select_related("owner")).in_bulk(
            [m.pk for m in models])
        models = [by_pk[m.pk] for m in models]
    latest = latest_versions(models)
    answers = versions_answer([v for m in models for v in latest.get(m.pk, [])])
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for answer in answers:
        by_model[answer["name"]].append(answer)
    aliases: dict[int, dict[str, int]] = defaultdict(dict)
    for model_id, name, sequence in ModelAlias.objects.filter(
            model__in=models, version__mlflow_deletion__isnull=True).values_list(
            "model_id", "name", "version__sequence"):
        aliases[model_id][name] = sequence
    return [rshapes.registered_model(
        name=m.name, created_at=m.created_at,
        updated_at=m._updated,  # type: ignore[attr-defined]
        username=m.owner.get_username() if m.owner else "", description=m.description,
        tags=m.tags or {}, aliases=aliases.get(m.pk, {}),
        latest_versions=by_model.get(m.name, []),
    ) for m in models]


# One model's answer in three compiled queries (it was seven through the ORM, 10 ms in
# SQLite over 220 versions, and the mlflow client reads it before every stage transition):
# the model's row, the newest version in each MLflow stage, and the model's aliases.
MODEL_FACTS = ("pk", "name", "created_at", "_updated", "owner__username", "description",
               "tags")
_SHOWN_STAGE = Case(*(When(stage__in=rshapes.axion_stages(shown), then=Value(shown))
                      for shown in rshapes.MLFLOW_STAGES), output_field=CharField())


def _model_facts(queryset: QuerySet[RegisteredModel]) -> QuerySet[RegisteredModel, VersionRow]:
    return models_annotated(queryset).values(*MODEL_FACTS)


def _newest_per_stage(model_pk: int, again: int) -> QuerySet[ModelVersion, VersionRow]:
    """The rows of the newest visible version in each MLflow stage of a model (its pk given
    twice: once for the versions, once for the per-stage maxima)."""
    newest = (visible_versions().filter(model_id=again).annotate(_shown=_SHOWN_STAGE)
              .values("_shown").annotate(_newest=Max("sequence")).values("_newest"))
    return _version_rows(visible_versions().filter(
        model_id=model_pk, sequence__in=Subquery(newest)).order_by("sequence"))


_MODEL_BY_NAME = CompiledRows(lambda name: _model_facts(visible_models().filter(name=name)),
                              samples=["\x00sample model\x00"])
_MODEL_BY_PK = CompiledRows(lambda pk: _model_facts(RegisteredModel.objects.filter(pk=pk)),
                            samples=[-(2**62) + 17])
_NEWEST_PER_STAGE = CompiledRows(_newest_per_stage, samples=[-(2**62) + 19, -(2**62) + 23])
_MODEL_ALIASES = CompiledRows(
    lambda pk: ModelAlias.objects.filter(model_id=pk).order_by("name").values(
        "name", "version_id", "version__sequence", "version__mlflow_deletion__id"),
    samples=[-(2**62) + 29])


def _one_model_answer(row: VersionRow) -> dict[str, Any]:
    by_version: dict[int, list[str]] = {}
    shown: dict[str, int] = {}
    for alias in _MODEL_ALIASES.rows(row["pk"]):
        by_version.setdefault(alias["version_id"], []).append(alias["name"])
        if alias["version__mlflow_deletion__id"] is None:
            shown[alias["name"]] = alias["version__sequence"]
    latest = versions_answer(_NEWEST_PER_STAGE.rows(row["pk"], row["pk"]), aliases=by_version)
    return rshapes.registered_model(
        name=row["name"], created_at=row["created_at"], updated_at=row["_updated"],
        username=row["owner__username"] or "", description=row["description"],
        tags=row["tags"] or {}, aliases=shown, latest_versions=latest)


def model_answer(model: RegisteredModel) -> dict[str, Any]:
    return _one_model_answer(_MODEL_BY_PK.rows(model.pk)[0])


def model_answer_by_name(name: str) -> dict[str, Any]:
    """A visible model's answer by its name; a miss is refused as model_by_name refuses it."""
    rows = _MODEL_BY_NAME.rows(name) if name else []
    return _one_model_answer(rows[0]) if rows else model_answer(model_by_name(name))


def require_not_prompt(tags: dict[str, str]) -> None:
    if tags.get("mlflow.prompt.is_prompt", "").lower() == "true":
        raise MlflowError("FEATURE_DISABLED", "Prompts are not part of Axion's registry; "
                          "register models only.", 400)
