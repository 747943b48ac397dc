from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.db.models import F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery

from axion_registry.compiled import CompiledRows
from axion_registry.errors import InvalidInput
from models_app import artifacts, roles
from models_app.choices import Direction, LoadCheckStatus, Stage
from models_app.errors import (
    AliasNotFound,
    ModelNotFound,
    TransitionRefused,
    VersionNotFound,
)
from models_app.filtersets import ModelVersionFilterSet, version_order
from models_app.gates import GateReport, evaluate_gates
from models_app.models import (
    PROMOTABLE_STAGES,
    AliasChange,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    StageTransition,
)
from models_app.roles import Actor


def model_get(*, name: str) -> RegisteredModel:
    try:
        return RegisteredModel.objects.get(name=name)
    except RegisteredModel.DoesNotExist as exc:
        raise ModelNotFound(f"No registered model named '{name}'.") from exc


def version_get(*, model_name: str, version: str) -> ModelVersion:
    try:
        return ModelVersion.objects.select_related("model", "created_by").get(
            model__name=model_name, version=version
        )
    except ModelVersion.DoesNotExist as exc:
        raise VersionNotFound(f"{model_name} has no version '{version}'.") from exc


VERSION_FIELDS = (
    "version", "sequence", "stage", "framework", "artifact_format", "metrics",
    "hyperparameters", "tags", "description", "signature", "input_example", "artifact_path",
    "artifact_sha256", "artifact_size", "source_run_id", "signature_bundle", "signed_with",
    "created_at", "serving_input", "load_check_status", "load_check", "verified_metrics",
)


def version_values(queryset: QuerySet[ModelVersion]) -> QuerySet:
    """Versions as plain dicts, read in one query without building model instances.

    The model's name is a subquery per row returned, not a join: with an inner join, the
    join's equivalence (model_id = registered model id) let PostgreSQL order a search by
    walking the models' primary key against a bitmap of every match (37 ms for a two-tag
    search at 1,000,000 versions), where the version_semver_desc scan stops at the page
    (10 ms)."""
    name = RegisteredModel.objects.filter(pk=OuterRef("model_id")).values("name")[:1]
    return queryset.values(*VERSION_FIELDS, model_name=Subquery(name),
                           creator=F("created_by__username"))


def version_rows(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The public shape of versions read by `version_values` (a page of them, say)."""
    rows = []
    for row in values:
        model, creator = row.pop("model_name"), row.pop("creator")
        rows.append({"model": model, **row, "created_by": creator})
    return rows


def version_detail(*, version: ModelVersion, moves: list[str]) -> dict[str, Any]:
    """One loaded version in the same public shape, with the stages the asking user may
    move it to."""
    return {
        "model": version.model.name,
        **{field: getattr(version, field) for field in VERSION_FIELDS},
        "created_by": version.created_by.get_username() if version.created_by else None,
        "aliases": version_aliases(version=version),
        "available_transitions": moves,
        "rollback_to": _rollback_version(version),
    }


def _rollback_version(version: ModelVersion) -> str | None:
    """What a rollback would restore while `version` is in production (None otherwise, or
    when no earlier production version is left to restore)."""
    if version.stage != Stage.PRODUCTION:
        return None
    target = rollback_target(model=version.model, current=version)
    return target.version if target else None


def version_list(*, filters: dict[str, Any] | None = None,
                 model: RegisteredModel | None = None) -> QuerySet[ModelVersion]:
    """Versions matching the search `filters`, in a unique order (see
    filtersets.version_order). Within one `model` the model column is left out of the
    order: it is constant there, and without it the order is one direction, so a keyset
    page is a row comparison the (model, major, minor, patch) index answers as a range."""
    versions = ModelVersion.objects.all() if model is None else model.versions.all()
    if not filters or filters.keys().isdisjoint(ModelVersionFilterSet.base_filters):
        # A plain page, no search parameter: the FilterSet would only order, and building
        # it cost more than the page's query.
        order = version_order([])
    else:
        filterset = ModelVersionFilterSet(filters, versions)
        if not filterset.is_valid():
            field, messages = next(iter(filterset.errors.items()))
            raise InvalidInput(f"{field}: {' '.join(messages)}", code="invalid_search",
                               details=filterset.errors)
        versions = filterset.qs
        order = [str(term) for term in versions.query.order_by]
    if model is not None:
        order = [term for term in order if term.lstrip("-") != "model_id"]
    return versions.order_by(*order)


SEMVER_DESCENDING = ("-major", "-minor", "-patch")


def version_next_sequence(*, model: RegisteredModel) -> int:
    """The number the model's next version gets: one past the highest ever given (call it
    with the registered model's row locked)."""
    highest = model.versions.aggregate(highest=Max("sequence"))["highest"]
    return (highest or 0) + 1


def version_by_sequence(*, model: RegisteredModel, sequence: int) -> ModelVersion:
    try:
        return ModelVersion.objects.select_related("model", "created_by").get(
            model=model, sequence=sequence)
    except ModelVersion.DoesNotExist as exc:
        raise VersionNotFound(f"{model.name} has no version number {sequence}.") from exc


def alias_list(*, model: RegisteredModel) -> QuerySet[ModelAlias]:
    """The model's aliases by name, each with its version."""
    return (ModelAlias.objects.filter(model=model)
            .select_related("version", "set_by").order_by("name"))


def alias_get(*, model: RegisteredModel, alias: str) -> ModelAlias:
    try:
        return alias_list(model=model).get(name=alias)
    except ModelAlias.DoesNotExist as exc:
        raise AliasNotFound(
            f"{model.name} has no alias '{alias}'; GET /api/v1/models/{model.name}/aliases/ "
            "lists them.") from exc


def version_by_alias(*, model: RegisteredModel, alias: str) -> ModelVersion:
    version = alias_get(model=model, alias=alias).version
    version.model = model
    return version


def alias_map(*, model: RegisteredModel) -> dict[str, str]:
    """{alias: semver} of the model (read from the aliases `model_list` prefetched, if so)."""
    prefetched = "aliases" in getattr(model, "_prefetched_objects_cache", {})
    rows = model.aliases.all() if prefetched else model.aliases.select_related("version")
    return {row.name: row.version.version for row in sorted(rows, key=lambda r: r.name)}


def version_aliases(*, version: ModelVersion) -> list[str]:
    """The names of the aliases pointing at the version."""
    return list(version.aliases.order_by("name").values_list("name", flat=True))


def aliases_by_model(*, models: Iterable[int]) -> dict[int, list[str]]:
    """{version id: its alias names} for every version of the models given, in one query:
    a page of versions of few models, without a parameter per version."""
    found: dict[int, list[str]] = {}
    rows = (ModelAlias.objects.filter(model_id__in=list(models)).order_by("name")
            .values_list("version_id", "name"))
    for version_id, name in rows:
        found.setdefault(version_id, []).append(name)
    return found


def alias_change_list() -> QuerySet[AliasChange]:
    """The audit trail of aliases, newest first (filter with AliasChangeFilterSet)."""
    return AliasChange.objects.select_related("model", "from_version", "to_version", "actor")


def _highest_first(versions: QuerySet[ModelVersion],
                   stage: Stage | str | None) -> QuerySet[ModelVersion]:
    """Versions (in `stage`, when given), highest semver first."""
    if stage is not None:
        versions = versions.filter(stage=stage)
    return versions.order_by(*SEMVER_DESCENDING)


def version_latest(
    *, model: RegisteredModel, stage: Stage | None = None
) -> ModelVersion | None:
    """The model's highest version in semver order (in `stage`, when given)."""
    return _highest_first(model.versions.all(), stage).first()


def _latest_versions(model_name: str, stage: str | None = None) -> QuerySet:
    # The model's id as a scalar subquery, not a join: the planner then reads the versions
    # of one model down (model, [stage,] major, minor, patch) and stops at the first, where
    # a join sorts every version of the model.
    model_id = RegisteredModel.objects.filter(name=model_name).values("pk")[:1]
    versions = ModelVersion.objects.filter(model_id=Subquery(model_id))
    return version_values(_highest_first(versions, stage))[:1]


_LATEST = CompiledRows(_latest_versions, samples=["\x00sample model\x00"])
_LATEST_IN_STAGE = CompiledRows(_latest_versions,
                                samples=["\x00sample model\x00", "\x00sample stage\x00"])


def version_latest_row(*, model_name: str, stage: str | None = None) -> dict[str, Any] | None:
    """The model's highest version (in `stage`, when given) in the list's public shape,
    read in one query from SQL built once; None when there is none (or no such model)."""
    rows = _LATEST.rows(model_name) if stage is None else _LATEST_IN_STAGE.rows(model_name,
                                                                               stage)
    return version_rows(rows)[0] if rows else None


def version_in_production(*, model: RegisteredModel) -> ModelVersion | None:
    """At most one row (the one_production_version_per_model index): read unordered, or
    the list order would walk the model's versions until it met the production one."""
    return next(iter(production_versions().filter(model=model).order_by()[:1]), None)


def model_list() -> QuerySet[RegisteredModel]:
    """Registered models with their production and latest version numbers annotated
    (`production_version`, `latest_version`): a page of models in a constant number of
    queries."""
    versions = ModelVersion.objects.filter(model=OuterRef("pk"))
    return RegisteredModel.objects.select_related("owner").prefetch_related(
        "co_owners", Prefetch("aliases", ModelAlias.objects.select_related("version")),
    ).annotate(
        production_version=Subquery(
            versions.filter(stage=Stage.PRODUCTION).order_by().values("version")[:1]),
        latest_version=Subquery(versions.order_by(*SEMVER_DESCENDING).values("version")[:1]),
    )


def production_history(*, model: RegisteredModel) -> list[int]:
    """Version ids in production order, replayed from the audit trail: a promotion pushes,
    a rollback pops. Rollback restores the entry below the top, so it walks back, never
    bouncing between two versions."""
    stack: list[int] = []
    rows = (
        StageTransition.objects.filter(model=model, to_stage=Stage.PRODUCTION)
        .order_by("created_at", "id")
        .values_list("kind", "version_id")
    )
    for kind, version_id in rows:
        if kind == StageTransition.Kind.ROLLBACK:
            while stack and stack[-1] != version_id:
                stack.pop()
            if not stack:
                stack.append(version_id)
        else:
            stack.append(version_id)
    return stack


def rollback_target(
    *, model: RegisteredModel, current: ModelVersion | None
) -> ModelVersion | None:
    """The version a rollback from `current` would restore: the previous production version,
    if it is archived (not deprecated, not moved on since)."""
    if current is None:
        return None
    stack = production_history(model=model)
    if stack and stack[-1] == current.pk:
        stack.pop()
    rows = ModelVersion.objects.select_related("model").in_bulk(stack)
    while stack:
        candidate = rows.get(stack.pop())
        if candidate is not None and candidate.stage == Stage.ARCHIVED:
            return candidate
    return None


def version_artifact_intact(*, version: ModelVersion) -> bool:
    """True when the stored artifact still hashes to the sha256 recorded at registration."""
    if not artifacts.artifact_exists(version.artifact_path):
        return False
    return artifacts.artifact_sha256(version.artifact_path) == version.artifact_sha256


@dataclass(frozen=True)
class ArtifactCheck:
    """A version's artifact hashed before any row lock is taken (hashing 2 GiB, maybe from
    S3, takes seconds): what was hashed and whether it matched."""

    version_id: int
    path: str
    sha256: str
    intact: bool

    def describes(self, version: ModelVersion) -> bool:
        """The cheap re-check under the lock: still the same version and the same file."""
        return (self.version_id, self.path, self.sha256) == (
            version.pk, version.artifact_path, version.artifact_sha256)


def version_artifact_check(*, version: ModelVersion) -> ArtifactCheck:
    return ArtifactCheck(version.pk, version.artifact_path, version.artifact_sha256,
                         version_artifact_intact(version=version))


def version_load_check(*, version: ModelVersion) -> dict[str, Any]:
    """The latest load check's outcome, in the shape the gates read."""
    return {"status": version.load_check_status, "error": version.load_check.get("error"),
            "hint": version.load_check.get("hint")}


def gate_report(
    *,
    version: ModelVersion,
    production: ModelVersion | None = None,
    artifact_ok: bool | None = None,
) -> GateReport:
    """The gates' verdict on `version` entering production now. `production` and
    `artifact_ok` are looked up unless the caller already holds them."""
    model = version.model
    gates = model.gates or {}
    if production is None:
        production = version_in_production(model=model)
    if artifact_ok is None and gates.get("verify_artifact", True):
        artifact_ok = version_artifact_intact(version=version)
    return evaluate_gates(
        gates,
        metrics=version.metrics,
        from_stage=version.stage,
        artifact_ok=artifact_ok,
        production_metrics=production.metrics if production and production.pk != version.pk
        else None,
        directions=model.metric_directions,
        load_check=version_load_check(version=version),
        verified_metrics=version.verified_metrics,
    )


def promotion_artifact_check(*, version: ModelVersion) -> ArtifactCheck | None:
    """Hash the artifact before any lock when a promotion of `version` would need it (the
    verify_artifact gate, a version that may still be promoted); read without a lock, so
    the locked re-read confirms it describes the same file."""
    version = ModelVersion.objects.select_related("model").get(pk=version.pk)
    if not (version.model.gates or {}).get("verify_artifact", True):
        return None
    if version.stage not in PROMOTABLE_STAGES:
        return None
    return version_artifact_check(version=version)


def promotion_gate_report(
    *,
    version: ModelVersion,
    production: ModelVersion | None,
    artifact: ArtifactCheck | None,
) -> GateReport:
    """The gate report under the model's lock, from the artifact hashed before it: the
    lock is never held while an artifact is read."""
    artifact_ok = None
    if (version.model.gates or {}).get("verify_artifact", True):
        if artifact is None or not artifact.describes(version):
            raise TransitionRefused(
                f"{version} changed while this promotion was under way; reload and try again."
            )
        artifact_ok = artifact.intact
    return gate_report(version=version, production=production, artifact_ok=artifact_ok)


def available_moves(*, version: ModelVersion, user: Actor) -> list[str]:
    """Stages the user may ask this version to move to (rollback is a model action)."""
    moves = []
    for t in version.get_available_stage_transitions():
        target = str(t.target)
        if t.custom.get("rollback_only"):
            continue
        if target == Stage.PRODUCTION and version.model.require_four_eyes:
            continue  # through a promotion request
        if not roles.may_move(user, version, target):
            continue
        moves.append(target)
    return sorted(set(moves))


def production_versions() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("model").filter(stage=Stage.PRODUCTION)


def version_in_production_at(*, model: RegisteredModel, at: datetime) -> ModelVersion | None:
    """The version of `model` that was in production at time `at`, from the audit trail."""
    last = (
        StageTransition.objects.filter(model=model, created_at__lte=at)
        .filter(to_stage=Stage.PRODUCTION)
        .order_by("-created_at", "-id")
        .select_related("version")
        .first()
    )
    if last is None:
        return None
    left = StageTransition.objects.filter(
        version=last.version, from_stage=Stage.PRODUCTION, created_at__lte=at, id__gt=last.id
    ).exists()
    return None if left else last.version


@dataclass(frozen=True)
class VersionComparison:
    versions: list[str]
    metrics: pd.DataFrame  # rows: metric, columns: version
    hyperparameters: pd.DataFrame  # rows: parameter, columns: version
    best: dict[str, str | None]  # metric -> best version by the metric's direction
    directions: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        def cell(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            return value

        differs = {
            param: len({repr(v) for v in row.dropna().tolist()}) > 1 or row.isna().any()
            for param, row in self.hyperparameters.iterrows()
        }
        return {
            "versions": self.versions,
            "metrics": {
                metric: {
                    "values": {v: cell(row[v]) for v in self.versions},
                    "direction": self.directions[metric],
                    "best": self.best[metric],
                }
                for metric, row in self.metrics.iterrows()
            },
            "hyperparameters": {
                param: {
                    "values": {v: cell(row[v]) for v in self.versions},
                    "differs": bool(differs[param]),
                }
                for param, row in self.hyperparameters.iterrows()
            },
        }


def versions_compare(*, model: RegisteredModel, versions: list[str]) -> VersionComparison:
    """Metrics and hyperparameters side by side, the best version marked per metric."""
    rows = {v.version: v for v in model.versions.filter(version__in=versions)}
    missing = [v for v in versions if v not in rows]
    if missing:
        raise VersionNotFound(f"{model.name} has no version(s) {', '.join(missing)}.")
    ordered = list(dict.fromkeys(versions))
    metrics = pd.DataFrame({v: pd.Series(rows[v].metrics, dtype=float) for v in ordered})
    params = pd.DataFrame(
        {v: pd.Series(rows[v].hyperparameters, dtype=object) for v in ordered}
    )
    directions = {metric: model.direction(metric) for metric in metrics.index}
    best: dict[str, str | None] = {}
    for metric, row in metrics.iterrows():
        values = row.dropna()
        if values.empty:
            best[metric] = None
            continue
        target = values.min() if directions[metric] == Direction.LOWER else values.max()
        winners = values[values == target].index.tolist()
        best[metric] = winners[0] if len(winners) == 1 else None  # a tie has no best
    return VersionComparison(ordered, metrics, params, best, directions)


NEVER_ENQUEUED_GRACE = timedelta(seconds=5)  # the registering process is still enqueueing


def load_checks_unfinished(*, now: datetime, deadline: timedelta) -> QuerySet[ModelVersion]:
    """Pending load checks never handed to the broker, or handed to it longer than
    `deadline` ago (a dead worker dropped it, or the message was lost)."""
    return ModelVersion.objects.filter(
        Q(load_check_enqueued_at__isnull=True, created_at__lt=now - NEVER_ENQUEUED_GRACE)
        | Q(load_check_enqueued_at__lt=now - deadline),
        load_check_status=LoadCheckStatus.PENDING,
    ).order_by("created_at", "id")


def transition_list() -> QuerySet[StageTransition]:
    return StageTransition.objects.select_related("model", "version", "actor")
