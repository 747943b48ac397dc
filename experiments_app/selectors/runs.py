from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, FilteredRelation, Q, QuerySet

from experiments_app.choices import RunStatus
from experiments_app.errors import (
    ExperimentNotFound,
    InvalidSearch,
    NoMatchingRun,
    RunNotFound,
)
from experiments_app.filtersets import experiment_filter, filter_by_param, run_filter
from experiments_app.models import Experiment, LatestMetric, Param, Run
from experiments_app.tracking_input import as_id, stored_number
from models_app import selectors as registry
from models_app.filtersets import filter_by_tag
from models_app.vocabulary import Direction


def runs_due_for_compaction(*, finished_before: datetime, limit: int) -> list[tuple[int, str]]:
    """(pk, run_id) of ended runs whose raw metric points are still stored, ended before
    `finished_before`, oldest first."""
    return list(
        Run.objects.filter(metrics_compacted_at__isnull=True, end_time__lt=finished_before)
        .exclude(status=RunStatus.RUNNING).order_by("end_time", "pk")
        .values_list("pk", "run_id")[:limit]
    )


def experiment_get(*, experiment_id: int | str) -> Experiment:
    experiment = None
    pk = as_id(experiment_id)
    if pk is not None:
        experiment = Experiment.objects.filter(pk=pk).first()
    if experiment is None:
        raise ExperimentNotFound(f"No experiment with id {experiment_id}.")
    return experiment


def experiment_list(*, filters: Any = None) -> QuerySet[Experiment]:
    """Experiments matching the filters (see ExperimentFilterSet), the newest first."""
    queryset = (Experiment.objects.select_related("owner").annotate(run_count=Count("runs"))
                .order_by("-created_at", "-id"))
    return experiment_filter(queryset, filters or {})


def run_get(*, run_id: str) -> Run:
    try:
        return Run.objects.select_related("experiment", "user", "parent").get(run_id=run_id)
    except Run.DoesNotExist as exc:
        raise RunNotFound(f"No run with id '{run_id}'.") from exc


def run_search(*, filters: Any = None) -> QuerySet[Run]:
    """Runs matching the filters and ordered as they say (see RunFilterSet: a field, a
    metric's latest value, a param; without order_by the newest first)."""
    return run_filter(Run.objects.select_related("experiment", "user", "parent"), filters or {})


def runs_load_data(runs: Iterable[Run]) -> list[Run]:
    """Attach `param_values` {key: str} and `metric_values` {key: JSON number} to each run,
    in two queries for the lot."""
    runs = list(runs)
    pks = [run.pk for run in runs]
    params: dict[int, dict[str, str]] = defaultdict(dict)
    for run_pk, key, value in Param.objects.filter(run_id__in=pks).order_by("key").values_list(
        "run_id", "key", "value"
    ):
        params[run_pk][key] = value
    metrics: dict[int, dict[str, Any]] = defaultdict(dict)
    for run_pk, metric_key, number, nan in (
        LatestMetric.objects.filter(run_id__in=pks).order_by("key")
        .values_list("run_id", "key", "value", "is_nan")
    ):
        metrics[run_pk][metric_key] = stored_number(number, nan)
    for run in runs:
        run.param_values = params.get(run.pk, {})
        run.metric_values = metrics.get(run.pk, {})
    return runs


def run_detail_extras(run: Run) -> Run:
    """Also attach the run's child run ids and the model versions it produced (lineage)."""
    runs_load_data([run])
    run.child_run_ids = list(run.children.order_by("start_time").values_list("run_id", flat=True))
    run.produced_versions = [
        {"model": version.model.name, "version": version.version, "stage": version.stage,
         "created_at": version.created_at}
        for version in registry.version_list(filters={"run_id": run.run_id}).order_by(
            "created_at"
        )
    ]
    return run


@dataclass(frozen=True)
class BestRun:
    run: Run
    metric: str
    value: float
    better: Direction
    candidates: int

    @property
    def direction(self) -> str:
        """The direction as the tracking API spells it: max or min."""
        return self.better.extremum


def run_best(
    *,
    experiment: Experiment,
    metric: str,
    direction: Direction | str = Direction.HIGHER,
    params: list[str] | None = None,
    tags: list[str] | None = None,
) -> BestRun:
    """The finished run of the experiment with the best latest value of `metric`.

    Failed, killed and running runs are never candidates, nor runs whose value is NaN.
    `params` and `tags` are filters as in run search (`lr:0.1`, `team:quant`). Ties go to
    the run that ended first, then to the smallest run_id. `direction` is a Direction, or
    the tracking API's word for one (max or min).
    """
    better = _direction(direction)
    queryset = Run.objects.filter(experiment=experiment, status=RunStatus.FINISHED)
    queryset = filter_by_param(queryset, params or [])
    if tags:
        queryset = filter_by_tag(queryset, "tags", tags)
    queryset = queryset.annotate(
        _best=FilteredRelation(
            "latest_metrics", condition=Q(latest_metrics__key=metric, latest_metrics__is_nan=False)
        )
    ).filter(_best__isnull=False).annotate(best_value=F("_best__value"))
    value_order = F("best_value").desc() if better is Direction.HIGHER else F("best_value").asc()
    ordered = queryset.order_by(value_order, "end_time", "run_id").select_related(
        "experiment", "user", "parent"
    )
    best = ordered.first()
    if best is None:
        raise NoMatchingRun(
            f"No finished run of experiment '{experiment.name}' has a value for '{metric}'"
            + (" among the runs matching the filters." if params or tags else ".")
        )
    return BestRun(best, metric, best.best_value, better, queryset.count())


def _direction(direction: Direction | str) -> Direction:
    if isinstance(direction, Direction):
        return direction
    try:
        return Direction.from_extremum(direction)
    except ValueError:
        raise InvalidSearch(f"direction is '{direction}'; use max or min.") from None
