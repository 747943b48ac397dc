"""Serving's write workflows: deployments, load checks, latency flushes, guardrail rollbacks
(the hosts' warm-ups: serving_app.warmups)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from models_app import selectors as registry_reads
from models_app import services as registry
from models_app.errors import RollbackRefused
from models_app.models import ModelVersion, RegisteredModel, StageTransition
from models_app.vocabulary import LoadCheckStatus
from serving_app import generation, histogram, loadcheck, loader, selectors
from serving_app.metrics import ERROR, FALLBACK, Snapshot
from serving_app.models import DeploymentEvent, LatencyMinute

logger = logging.getLogger(__name__)

__all__ = [
    "deployment_record",
    "generation_bump",
    "guardrail_check",
    "latency_flush",
    "rollback_if_current",
    "version_load_check",
]


def generation_bump(*, model_name: str) -> int:
    """Tell every serving process to re-read the model's plan within
    SERVING_GENERATION_CHECK_MS. Deployments do it; so should anything else that changes
    how a model's traffic is served (an A/B test started, paused or ended), after commit."""
    return generation.generation_bump(model_name)


def deployment_record(
    *, version_id: int, kind: str, previous_version_id: int | None = None
) -> DeploymentEvent:
    """Note a deployment models_app announced, with the source and reason of its audit entry."""
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    audit = (
        StageTransition.objects.filter(version=version, kind=kind)
        .order_by("-created_at", "-id").first()
    )
    return DeploymentEvent.objects.create(
        model_id=version.model_id,
        version=version,
        previous_version_id=previous_version_id,
        kind=kind,
        source=audit.source if audit else "",
        reason=audit.reason if audit else "",
        warmup_status=DeploymentEvent.WarmUp.PENDING,
    )


def rollback_if_current(
    *, version: ModelVersion, reason: str, source: str
) -> StageTransition | None:
    """Roll the model back, as the system user, only while `version` is still in production.

    Several processes (or a guardrail and a warm-up) may decide at once that one version
    must go; the check under the model's row lock makes exactly one of them roll back.
    """
    try:
        with transaction.atomic():
            model = RegisteredModel.objects.select_for_update().get(pk=version.model_id)
            current = registry_reads.version_in_production(model=model)
            if current is None or current.pk != version.pk:
                return None
            return registry.model_rollback(
                model=model, actor=registry.system_user(), reason=reason, source=source
            )
    except RollbackRefused as exc:
        logger.error("could not roll back %s (%s): %s", version, source, exc.message)
        return None


def version_load_check(*, version_id: int, again: bool = False) -> ModelVersion | None:
    """Load and exercise a registered version in a fresh process with this deployment's
    serving settings (and score its model's evaluation datasets); record the result.

    A version checked already is left alone unless `again` (a re-check asked for)."""
    version = ModelVersion.objects.select_related("model").filter(pk=version_id).first()
    if version is None or (version.load_check_status != LoadCheckStatus.PENDING and not again):
        return version
    datasets = [
        {"name": d.name, "path": d.path, "sha256": d.sha256, "label_column": d.label_column,
         "file_format": d.file_format}
        for d in version.model.evaluation_datasets.order_by("name")
    ]
    payload = loadcheck.payload_for(loader.VersionRecord.from_row(version), datasets=datasets,
                                    settings=settings)
    result = loadcheck.check_in_fresh_process(
        payload, timeout=settings.LOAD_CHECK_TIMEOUT_SECONDS, cwd=settings.BASE_DIR)
    if result.get("status") != LoadCheckStatus.PASSED:
        logger.warning("load check of %s failed: %s", version, result.get("error"))
    return registry.version_load_check_record(version_id=version_id, result=result)


def _minute(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


@transaction.atomic
def latency_flush(*, snapshot: Snapshot) -> list[int]:
    """Add one process's drained minute histograms to the shared per-minute rows.

    Returns the version ids that had traffic, for the guardrail to look at.
    """
    merged: dict[tuple[int, int], dict] = {}
    for (minute, version_id, outcome), stats in snapshot.items():
        row = merged.setdefault((minute, version_id), {
            "counts": histogram.empty(), "errors": 0, "fallbacks": 0, "last_error": "",
        })
        histogram.merge(row["counts"], stats.counts)
        if outcome == ERROR:
            row["errors"] += stats.count
        elif outcome == FALLBACK:
            row["fallbacks"] += stats.count
        if stats.last_error:
            row["last_error"] = stats.last_error
    versions = ModelVersion.objects.in_bulk({version_id for _, version_id in merged})
    for (minute, version_id), delta in sorted(merged.items()):
        version = versions.get(version_id)
        if version is None:
            continue
        at = _minute(minute)
        stored = _locked_minute(version, at)
        counts = histogram.merge(list(stored.buckets) or histogram.empty(), delta["counts"])
        stored.buckets = counts
        stored.count = sum(counts)
        stored.errors += delta["errors"]
        stored.fallbacks += delta["fallbacks"]
        stored.p50_ms, stored.p95_ms, stored.p99_ms = histogram.percentiles(counts)
        if delta["last_error"]:
            stored.last_error = delta["last_error"][:2000]
        stored.save()
        if delta["fallbacks"]:
            _fallback_event(version, at, delta["fallbacks"], delta["last_error"])
    return sorted({version_id for _, version_id in merged if version_id in versions})


def _locked_minute(version: ModelVersion, at: datetime) -> LatencyMinute:
    row = LatencyMinute.objects.select_for_update().filter(version=version, minute=at).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return LatencyMinute.objects.create(model_id=version.model_id, version=version,
                                                minute=at, buckets=histogram.empty())
    except IntegrityError:  # another process created it first
        return LatencyMinute.objects.select_for_update().get(version=version, minute=at)


def _fallback_event(version: ModelVersion, at: datetime, count: int, error: str) -> None:
    event = (
        DeploymentEvent.objects.select_for_update()
        .filter(version=version, kind=DeploymentEvent.Kind.FALLBACK, minute=at).first()
    )
    if event is None:
        try:
            with transaction.atomic():
                DeploymentEvent.objects.create(
                    model_id=version.model_id, version=version, kind=DeploymentEvent.Kind.FALLBACK,
                    minute=at, count=count, error=error[:2000],
                    reason=f"{version} failed; its fallback version answered",
                )
            return
        except IntegrityError:
            event = DeploymentEvent.objects.select_for_update().get(
                version=version, kind=DeploymentEvent.Kind.FALLBACK, minute=at
            )
    event.count += count
    if error:
        event.error = error[:2000]
    event.save(update_fields=["count", "error", "updated_at"])


def guardrail_check(
    *, version_ids: list[int], now: datetime | None = None
) -> list[StageTransition]:
    """Roll back any production version whose failure rate over its window passes the
    model's threshold with at least the minimum number of requests (source "guardrail")."""
    now = now or timezone.now()
    rollbacks = []
    rows = registry_reads.production_versions().filter(pk__in=version_ids)
    for version in rows:
        policy = selectors.guardrail_policy(model=version.model)
        if not policy.enabled:
            continue
        since = (now - timedelta(minutes=policy.window_minutes)).replace(second=0, microsecond=0)
        deployed = selectors.last_deployed_at(version=version)
        if deployed is not None:
            since = max(since, deployed.replace(second=0, microsecond=0))
        count, failures = selectors.failure_totals(version=version, since=since)
        if count < policy.min_requests or failures / count <= policy.max_failure_rate:
            continue
        reason = (
            f"guardrail: {failures} of {count} requests to {version} failed or fell back "
            f"({failures / count:.0%} > {policy.max_failure_rate:.0%}) since "
            f"{since:%H:%M} UTC"
        )
        record = rollback_if_current(version=version, reason=reason, source="guardrail")
        if record is not None:
            logger.warning("%s rolled back: %s", version, reason)
            rollbacks.append(record)
    return rollbacks
