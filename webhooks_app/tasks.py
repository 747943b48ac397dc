from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True, reject_on_worker_lost=True)
def webhook_deliver(delivery_pk: int) -> str | None:
    """Attempt one delivery (a repeated message for the same delivery does nothing)."""
    from webhooks_app import services

    delivery = services.delivery_attempt(delivery_pk=delivery_pk)
    return delivery.status if delivery is not None else None


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             acks_late=True)
def webhook_deliveries_due() -> list[int]:
    """Beat entry point: re-enqueue pending deliveries whose message was lost."""
    from webhooks_app import services

    return services.deliveries_due_enqueue()


def delivery_enqueue(delivery_pk: int, countdown: float | None = None) -> bool:
    """Hand a delivery to the broker; False (logged) when the broker is away, in which case
    the beat sweep enqueues it once the broker answers again."""
    try:
        webhook_deliver.apply_async((delivery_pk,), countdown=countdown)
    except Exception:
        logger.exception("could not enqueue webhook delivery %s; the sweep will retry",
                         delivery_pk)
        return False
    return True
