"""Every write workflow of experiment tracking. Import from here."""

from experiments_app.services.artifacts import run_artifact_save
from experiments_app.services.experiments import (
    experiment_create,
    experiment_resolve,
    experiment_update,
)
from experiments_app.services.lineage import run_register_version
from experiments_app.services.retention import (
    Compaction,
    metrics_compact,
    run_metrics_compact,
    run_pyramid_build,
)
from experiments_app.services.runs import run_create, run_end, run_update
from experiments_app.services.tracking import (
    batch_log,
    metric_log,
    metrics_log,
    params_log,
    tag_delete,
    tags_set,
)

__all__ = [
    "Compaction",
    "metrics_compact",
    "run_metrics_compact",
    "run_pyramid_build",
    "batch_log",
    "experiment_create",
    "experiment_resolve",
    "experiment_update",
    "metric_log",
    "metrics_log",
    "params_log",
    "run_artifact_save",
    "run_create",
    "run_end",
    "run_register_version",
    "run_update",
    "tag_delete",
    "tags_set",
]
