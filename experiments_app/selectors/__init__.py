"""Every read of experiment tracking beyond a .get(). Import from here."""

from experiments_app.selectors.artifacts import run_artifact_list, run_artifact_open
from experiments_app.selectors.comparison import RunComparison, runs_compare
from experiments_app.selectors.metrics import metric_histories, metric_history
from experiments_app.selectors.runs import (
    BestRun,
    experiment_get,
    experiment_list,
    run_best,
    run_detail_extras,
    run_get,
    run_search,
    runs_load_data,
)

__all__ = [
    "BestRun",
    "RunComparison",
    "experiment_get",
    "experiment_list",
    "metric_histories",
    "metric_history",
    "run_artifact_list",
    "run_artifact_open",
    "run_best",
    "run_detail_extras",
    "run_get",
    "run_search",
    "runs_compare",
    "runs_load_data",
]
