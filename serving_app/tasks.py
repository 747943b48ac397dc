from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from kombu import Exchange, Queue

logger = logging.getLogger(__name__)


def warmup_queue(host: str) -> Queue:
    """The host's own warm-up queue (every worker of the host consumes it)."""
    name = settings.SERVING_WARMUP_QUEUE_PREFIX + host
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True, reject_on_worker_lost=True)
def deployment_warm_up(event_id: int, version_id: int, host: str = "") -> str | None:
    """Fetch, load and test-predict a deployed version on this worker's host, once per host;
    roll back a promotion whose warm-up failed. `host` names the queue's host, for logs."""
    from serving_app import warmups

    if host and host != settings.AXION_HOST_NAME:
        logger.warning("a warm-up for %s reached a worker of %s: it warms this host",
                       host, settings.AXION_HOST_NAME)
    row = warmups.host_warm_up(event_id=event_id, version_id=version_id)
    return row.status if row is not None else None


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True, reject_on_worker_lost=True)
def host_announce() -> list[int]:
    """A worker of this host started: note the host alive and enqueue what it owes."""
    from serving_app import warmups

    owed = warmups.host_announce(name=settings.AXION_HOST_NAME)
    for row in owed:
        host_warm_up_send(row.pk, row.event_id, row.event.version_id, row.host)
    return [row.event_id for row in owed]


def host_warm_up_send(warmup_id: int, event_id: int, version_id: int, host: str) -> bool:
    """Hand one host's warm-up to that host's queue and note when; False (logged) when the
    broker is away, in which case the reconciler enqueues it once the broker answers."""
    from serving_app import warmups

    try:
        deployment_warm_up.apply_async((event_id, version_id, host), queue=warmup_queue(host))
    except Exception:
        logger.exception("could not enqueue the warm-up of version %s (event %s) on %s; the "
                         "reconciler will retry", version_id, event_id, host)
        return False
    warmups.host_warm_up_enqueued(warmup_id=warmup_id, event_id=event_id)
    return True


def warm_up_enqueue(event_id: int, version_id: int) -> bool:
    """Plan a deployment's warm-up on every live host and hand each to its host's queue;
    False when some could not be handed over (the reconciler retries those)."""
    from serving_app import warmups

    try:
        rows = warmups.deployment_hosts_plan(event_id=event_id)
    except Exception:
        logger.exception("could not plan the warm-ups of event %s; the reconciler will retry",
                         event_id)
        return False
    return all([host_warm_up_send(row.pk, event_id, version_id, row.host) for row in rows])


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
    hosts' warm-ups that never finish, mark those of hosts gone away missed. Returns the ids
    of the deployment events it acted on."""
    from models_app.selectors import load_checks_unfinished
    from serving_app import selectors, warmups

    # A load check may rightly run up to its time limit: only past that is it lost.
    check_deadline = timedelta(seconds=settings.LOAD_CHECK_TIMEOUT_SECONDS
                               + settings.SERVING_WARMUP_DEADLINE_SECONDS)
    for version_id in load_checks_unfinished(now=timezone.now(), deadline=check_deadline) \
            .values_list("pk", flat=True):
        logger.warning("re-enqueueing the load check of version %s", version_id)
        load_check_enqueue(version_id)

    now = timezone.now()
    deadline = timedelta(seconds=settings.SERVING_WARMUP_DEADLINE_SECONDS)
    live = set(selectors.hosts_live(now=now))
    acted = []
    for row in selectors.host_warmups_unfinished(now=now, deadline=deadline):
        if row.host not in live:
            warmups.host_warm_up_missed(row=row)
        elif row.attempts >= settings.SERVING_WARMUP_MAX_ATTEMPTS:
            warmups.host_warm_up_give_up(row=row)
        else:
            logger.warning("re-enqueueing the warm-up of %s on %s (event %s, %s attempts so "
                           "far)", row.event.version, row.host, row.event_id, row.attempts)
            host_warm_up_send(row.pk, row.event_id, row.event.version_id, row.host)
        acted.append(row.event_id)
    for event in selectors.deployments_unplanned(now=now):
        warm_up_enqueue(event.pk, event.version_id)
        acted.append(event.pk)
    return sorted(set(acted))


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True)
def version_load_check(version_id: int) -> str | None:
    """Load and exercise a registered version in a fresh process; record the outcome."""
    from serving_app import services

    version = services.version_load_check(version_id=version_id)
    return version.load_check_status if version is not None else None
