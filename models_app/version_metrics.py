"""Filling VersionMetric from the versions' metrics JSON: once by the migration that adds it,
again (idempotent) by `manage.py version_metrics_backfill` after a rolling upgrade, for any
version an old process registered meanwhile. One INSERT ... SELECT in the database."""

from __future__ import annotations

from typing import Any

from models_app.validation import METRIC_KEY_LENGTH as KEY_LENGTH

_POSTGRESQL = f"""
    INSERT INTO models_app_versionmetric (version_id, key, value)
    SELECT version.id, metric.key, metric.value::float8
    FROM model_versions AS version CROSS JOIN LATERAL jsonb_each(version.metrics) AS metric
    WHERE jsonb_typeof(metric.value) = 'number' AND length(metric.key) <= {KEY_LENGTH}
    ON CONFLICT (version_id, key) DO NOTHING
"""
_SQLITE = f"""
    INSERT OR IGNORE INTO models_app_versionmetric (version_id, key, value)
    SELECT version.id, metric.key, metric.value
    FROM model_versions AS version, json_each(version.metrics) AS metric
    WHERE metric.type IN ('integer', 'real') AND length(metric.key) <= {KEY_LENGTH}
"""


def backfill(connection: Any) -> int:
    """Add the rows of every version's numeric metrics that are missing; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(_POSTGRESQL if connection.vendor == "postgresql" else _SQLITE)
        return int(cursor.rowcount)
