"""Lineage: register a model version from a run's artifact; the version keeps the run's id."""

from __future__ import annotations

import math
from typing import Any

from experiments_app.errors import ArtifactNotFound
from experiments_app.models import LatestMetric, Param, Run
from experiments_app.selectors.artifacts import run_artifact_name
from models_app import artifacts
from models_app import services as registry
from models_app.models import ModelVersion
from models_app.roles import Actor


def run_register_version(
    *,
    run: Run,
    model: str,
    artifact_path: str,
    framework: str,
    artifact_format: str,
    version: str | None = None,
    bump: str | None = None,
    metrics: dict[str, float] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    description: str = "",
    signature: dict[str, Any] | None = None,
    input_example: Any = None,
    created_by: Actor = None,
) -> ModelVersion:
    """Register `model`'s next version from the file at `artifact_path` in the run's artifacts.

    Metrics default to the run's latest values (NaN and infinities left out: the registry
    takes finite numbers only) and hyperparameters to the run's params; what is given
    overrides them key by key. Not wrapped in a transaction here: version_register is one,
    and it removes the files it wrote when it fails.
    """
    name = run_artifact_name(run.run_id, artifact_path)
    if not artifacts.artifact_exists(name):
        raise ArtifactNotFound(
            f"Run {run.run_id} has no artifact '{artifact_path}'; upload it first "
            f"(POST /api/v1/runs/{run.run_id}/artifacts/)."
        )
    run_metrics = {
        key: value
        for key, value, nan in LatestMetric.objects.filter(run=run).values_list(
            "key", "value", "is_nan"
        )
        if not nan and math.isfinite(value)
    }
    run_params = dict(Param.objects.filter(run=run).values_list("key", "value"))
    with artifacts.artifact_open(name) as stream:
        return registry.version_register(
            model_name=model,
            artifact=stream,
            framework=framework,
            artifact_format=artifact_format,
            version=version,
            bump=bump,
            metrics={**run_metrics, **(metrics or {})},
            hyperparameters={**run_params, **(hyperparameters or {})},
            tags=tags,
            description=description,
            signature=signature,
            input_example=input_example,
            source_run_id=run.run_id,
            created_by=created_by,
        )
