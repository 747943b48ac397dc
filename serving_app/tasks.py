from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True, reject_on_worker_lost=True)
def deployment_warm_up(event_id: int, version_id: int) -> str | None:
    """Load and test-predict a deployed version in a worker; roll back a failed promotion."""
    from serving_app import services

    event = services.deployment_warm_up(event_id=event_id, version_id=version_id)
    return event.warmup_status if event is not None else None


def warm_up_enqueue(event_id: int, version_id: int) -> bool:
    """Hand a warm-up to the broker and note when; False (logged) when the broker is away,
    in which case the reconciler enqueues it once the broker answers again."""
    from serving_app import services

    try:
        deployment_warm_up.delay(event_id, version_id)
    except Exception:
        logger.exception("could not enqueue the warm-up of version %s (event %s); the "
                         "reconciler will retry", version_id, event_id)
        return False
    services.deployment_enqueued(event_id=event_id)
    return True


def load_check_enqueue(version_id: int) -> bool:
    """Hand a version's load check to the broker and note when; False (logged) when the
    broker is away, in which case the reconciler enqueues it once the broker answers."""
    from models_app.services import version_load_check_enqueued

    try:
        version_load_check.delay(version_id)
    except Exception:
        logger.exception("could not enqueue the load check of version %s; the reconciler "
                         "will retry", version_id)
        return False
    version_load_check_enqueued(version_id=version_id)
    return True


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True, reject_on_worker_lost=True)
def deployment_reconcile() -> list[int]:
    """Beat entry point: re-enqueue warm-ups and load checks that were lost, give up on
    warm-ups that never finish. Returns the ids of the warm-up events it acted on."""
    from models_app.selectors import load_checks_unfinished
    from serving_app import selectors, services

    # A load check may rightly run up to its time limit: only past that is it lost.
    check_deadline = timedelta(seconds=settings.LOAD_CHECK_TIMEOUT_SECONDS
                               + settings.SERVING_WARMUP_DEADLINE_SECONDS)
    for version_id in load_checks_unfinished(now=timezone.now(), deadline=check_deadline) \
            .values_list("pk", flat=True):
        logger.warning("re-enqueueing the load check of version %s", version_id)
        load_check_enqueue(version_id)

    deadline = timedelta(seconds=settings.SERVING_WARMUP_DEADLINE_SECONDS)
    acted = []
    for event in selectors.deployments_unfinished(now=timezone.now(), deadline=deadline):
        if event.attempts >= settings.SERVING_WARMUP_MAX_ATTEMPTS:
            services.deployment_give_up(event=event)
        else:
            logger.warning("re-enqueueing the warm-up of %s (event %s, %s attempts so far)",
                           event.version, event.pk, event.attempts)
            warm_up_enqueue(event.pk, event.version_id)
        acted.append(event.pk)
    return acted


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True)
def version_load_check(version_id: int) -> str | None:
    """Load and exercise a registered version in a fresh process; record the outcome."""
    from serving_app import services

    version = services.version_load_check(version_id=version_id)
    return version.load_check_status if version is not None else None
