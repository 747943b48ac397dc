from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from axion_registry.errors import InvalidInput
from models_app import selectors as registry
from models_app.choices import Stage
from models_app.errors import VersionNotFound
from models_app.models import ModelVersion, RegisteredModel
from serving_app.errors import NotDeployed
from serving_app.filtersets import LatencyMinuteFilterSet
from serving_app.loader import VersionRecord
from serving_app.models import (
    DeploymentEvent,
    HostWarmUp,
    LatencyMinute,
    ServingHost,
    ServingPolicy,
)


@dataclass(frozen=True)
class GuardrailPolicy:
    enabled: bool
    window_minutes: int
    min_requests: int
    max_failure_rate: float


def policy_get(*, model: RegisteredModel) -> ServingPolicy:
    """The model's policy row, or an unsaved one holding the settings' defaults."""
    policy = ServingPolicy.objects.filter(model=model).first()
    return policy if policy is not None else ServingPolicy(model=model)


def guardrail_policy(*, model: RegisteredModel) -> GuardrailPolicy:
    policy = policy_get(model=model)

    def pick(value, default):
        return default if value is None else value

    return GuardrailPolicy(
        enabled=policy.guardrail_enabled,
        window_minutes=pick(policy.guardrail_window_minutes,
                            settings.SERVING_GUARDRAIL_WINDOW_MINUTES),
        min_requests=pick(policy.guardrail_min_requests, settings.SERVING_GUARDRAIL_MIN_REQUESTS),
        max_failure_rate=pick(policy.guardrail_max_failure_rate,
                              settings.SERVING_GUARDRAIL_MAX_FAILURE_RATE),
    )


def version_record(*, model_name: str, version: str) -> VersionRecord:
    """A version by number, or the newest version in a stage ("staging", "production")."""
    if version not in Stage.values:
        return VersionRecord.from_row(registry.version_get(model_name=model_name,
                                                           version=version))
    model = registry.model_get(name=model_name)
    row = (registry.version_in_production(model=model) if version == Stage.PRODUCTION
           else registry.version_latest(model=model, stage=Stage(version)))
    if row is None:
        if version == Stage.PRODUCTION:
            raise NotDeployed(f"{model_name} has no version in production to serve.")
        raise VersionNotFound(
            f"{model_name} has no version in {version}; ask for a version number or "
            "production."
        )
    row.model = model
    return VersionRecord.from_row(row)


def production_records() -> list[VersionRecord]:
    return [VersionRecord.from_row(row) for row in registry.production_versions()]


def latency_minutes(*, model: RegisteredModel,
                    filters: Mapping[str, Any] | None = None) -> QuerySet[LatencyMinute]:
    """The model's minutes, filtered by LatencyMinuteFilterSet (the last 60 by default)."""
    filterset = LatencyMinuteFilterSet(filters, LatencyMinute.objects.filter(model=model))
    if not filterset.is_valid():
        field, messages = next(iter(filterset.errors.items()))
        raise InvalidInput(f"{field}: {' '.join(messages)}", details=filterset.errors)
    return filterset.qs.select_related("version").order_by(
        "minute", "version__major", "version__minor", "version__patch")


def deployment_events() -> QuerySet[DeploymentEvent]:
    return DeploymentEvent.objects.select_related(
        "model", "version", "previous_version").prefetch_related("host_warmups")


def latest_deployment(*, version: ModelVersion) -> DeploymentEvent | None:
    """The version's last promotion or rollback."""
    return (
        DeploymentEvent.objects.filter(
            version=version, kind__in=[DeploymentEvent.Kind.PROMOTE, DeploymentEvent.Kind.ROLLBACK]
        ).order_by("-created_at", "-id").first()
    )


def last_deployed_at(*, version: ModelVersion) -> datetime | None:
    event = latest_deployment(version=version)
    return event.created_at if event else None


def failure_totals(*, version: ModelVersion, since: datetime) -> tuple[int, int]:
    """(requests, errors + fallbacks) of a version since a time, over every process."""
    totals = LatencyMinute.objects.filter(version=version, minute__gte=since).aggregate(
        count=Sum("count"), errors=Sum("errors"), fallbacks=Sum("fallbacks")
    )
    return totals["count"] or 0, (totals["errors"] or 0) + (totals["fallbacks"] or 0)


NEVER_ENQUEUED_GRACE = timedelta(seconds=5)  # the announcing process is still enqueueing


def hosts_live(*, now: datetime) -> list[str]:
    """The hosts whose workers were seen within SERVING_HOST_TTL_SECONDS."""
    since = now - timedelta(seconds=settings.SERVING_HOST_TTL_SECONDS)
    return list(ServingHost.objects.filter(last_seen_at__gte=since)
                .order_by("name").values_list("name", flat=True))


def host_warmups_unfinished(*, now: datetime, deadline: timedelta) -> QuerySet[HostWarmUp]:
    """Hosts' warm-ups still pending that were never handed to their queue, or were handed
    to it longer than `deadline` ago (the worker died, the host is down, a message was lost)."""
    return HostWarmUp.objects.select_related("event__version").filter(
        Q(enqueued_at__isnull=True, created_at__lt=now - NEVER_ENQUEUED_GRACE)
        | Q(enqueued_at__lt=now - deadline),
        status=HostWarmUp.Status.PENDING,
    ).order_by("created_at", "id")


def deployments_unplanned(*, now: datetime) -> QuerySet[DeploymentEvent]:
    """Pending deployments that no host's warm-up was planned for (the broker or the
    database failed right after the deployment, or an event of an older release)."""
    return DeploymentEvent.objects.filter(
        warmup_status=DeploymentEvent.WarmUp.PENDING, host_warmups__isnull=True,
        created_at__lt=now - NEVER_ENQUEUED_GRACE,
    ).order_by("created_at", "id")


def latest_warmup(*, version_id: int) -> DeploymentEvent | None:
    return (
        DeploymentEvent.objects.filter(version_id=version_id)
        .exclude(warmup_status=DeploymentEvent.WarmUp.NONE).prefetch_related("host_warmups")
        .order_by("-created_at", "-id").first()
    )
