from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True)
def deployment_warm_up(event_id: int, version_id: int) -> str | None:
    """Load and test-predict a deployed version in a worker; roll back a failed promotion."""
    from serving_app import services

    event = services.deployment_warm_up(event_id=event_id, version_id=version_id)
    return event.warmup_status if event is not None else None


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True)
def version_load_check(version_id: int) -> str | None:
    """Load and exercise a registered version in a fresh process; record the outcome."""
    from serving_app import services

    version = services.version_load_check(version_id=version_id)
    return version.load_check_status if version is not None else None
