from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from webhooks_app.errors import WebhookNotFound
from webhooks_app.events import Event
from webhooks_app.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookStatus


def webhooks_listening(*, event: Event) -> list[Webhook]:
    """Active webhooks subscribed to an event (a small table: filtered here, on any database)."""
    return [hook for hook in Webhook.objects.filter(status=WebhookStatus.ACTIVE)
            if hook.listens_to(event)]


def webhook_get(*, webhook_id: str) -> Webhook:
    try:
        key = uuid.UUID(str(webhook_id))
    except ValueError:
        key = None
    hook = Webhook.objects.filter(webhook_id=key).first() if key else None
    if hook is None:
        raise WebhookNotFound(f"Webhook with ID {webhook_id} not found; list webhooks to see "
                              "their ids.")
    return hook


def webhooks_page(*, offset: int, limit: int) -> tuple[list[Webhook], bool]:
    """A page of webhooks, oldest first, and whether more follow."""
    rows = list(Webhook.objects.all()[offset:offset + limit + 1])
    return rows[:limit], len(rows) > limit


def deliveries_due(*, now: datetime, grace: timedelta) -> QuerySet[WebhookDelivery]:
    """Pending deliveries overdue by more than `grace`: their message was lost (a broker
    restart, an enqueue that failed, a worker that died holding the claim)."""
    return WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now - grace))
