"""Every write of webhooks: managing them (release managers and staff only), recording an
event's deliveries in the event's transaction, attempting one delivery, testing a webhook."""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from axion_registry.errors import PermissionRefused
from models_app import roles
from models_app.roles import Actor
from webhooks_app import payloads, selectors, signing, transport
from webhooks_app.errors import InvalidWebhook
from webhooks_app.events import Event, EventError, events_clean
from webhooks_app.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookStatus
from webhooks_app.sealing import SecretUnreadable, secret_open, secret_seal

logger = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,60}[A-Za-z0-9])?")
SECRET_MAX = 512


class WebhookChangeNotPermitted(PermissionRefused):
    code = "webhook_not_permitted"


def may_manage(actor: Actor) -> bool:
    """Webhooks carry registry events out and make the server send requests: release managers
    and staff only."""
    return roles.is_release_manager(actor) or bool(
        actor is not None and actor.is_authenticated and actor.is_active
        and getattr(actor, "is_staff", False))


def require_manage(actor: Actor) -> None:
    if actor is not None and not may_manage(actor):
        raise WebhookChangeNotPermitted(
            f"You may not see or change webhooks: that needs the '{roles.RELEASE_MANAGERS}' "
            "group or staff status (a webhook sends registry events to its URL).")


def _allowed_networks() -> list[Any]:
    return transport.networks_parse(settings.WEBHOOK_ALLOWED_NETWORKS)


def destination(url: str) -> transport.Destination:
    try:
        return transport.destination_check(url, allowed_networks=_allowed_networks())
    except transport.DestinationRefused as exc:
        raise InvalidWebhook(str(exc)) from exc


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    if "name" in fields and not NAME.fullmatch(fields["name"] or ""):
        raise InvalidWebhook(f"Webhook name {fields['name']!r} is invalid: it must start and "
                             "end with a letter or digit, be at most 62 characters long and "
                             "hold only letters, digits, dots, underscores and hyphens.")
    if "url" in fields:
        fields["url"] = fields["url"].strip()
        destination(fields["url"])
    if "events" in fields:
        try:
            fields["events"] = [event.value for event in events_clean(fields["events"])]
        except EventError as exc:
            raise InvalidWebhook(str(exc)) from exc
    if "secret" in fields:
        if len(fields["secret"]) > SECRET_MAX:
            raise InvalidWebhook(f"The webhook secret is longer than {SECRET_MAX} characters.")
        fields["secret"] = secret_seal(fields["secret"])
    if "status" in fields and fields["status"] not in WebhookStatus.values:
        raise InvalidWebhook(f"Webhook status {fields['status']!r} is not ACTIVE or DISABLED.")
    return fields


def webhook_create(
    *,
    actor: Actor,
    name: str,
    url: str,
    events: list[Event],
    description: str = "",
    secret: str = "",
    status: str = WebhookStatus.ACTIVE,
) -> Webhook:
    require_manage(actor)
    fields = _clean({"name": name, "url": url, "events": events, "secret": secret,
                     "status": status})
    return Webhook.objects.create(description=description or "",
                                  created_by=roles.audited_user(actor), **fields)


def webhook_update(*, actor: Actor, webhook: Webhook, **changes: Any) -> Webhook:
    """Change the fields given (None: keep); a changed secret signs the next attempts."""
    require_manage(actor)
    wanted = _clean({field: value for field, value in changes.items() if value is not None})
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
        for field, value in wanted.items():
            setattr(webhook, field, value)
        webhook.save()
    return webhook


def webhook_delete(*, actor: Actor, webhook: Webhook) -> None:
    """Delete a webhook and its delivery log (pending deliveries are not sent)."""
    require_manage(actor)
    webhook.delete()


# --- deliveries ---------------------------------------------------------------------------

def event_record(*, event: Event, data: dict[str, Any]) -> list[WebhookDelivery]:
    """One pending delivery per listening webhook, written in the caller's transaction (so
    the event and its deliveries commit or vanish together), each enqueued after commit."""
    hooks = selectors.webhooks_listening(event=event)
    if not hooks:
        return []
    body = payloads.envelope(event, data, timezone.now())
    with transaction.atomic():
        rows = WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(webhook=hook, event=event.value, payload=body) for hook in hooks])
        ids = [row.pk for row in rows] if all(row.pk for row in rows) else list(
            WebhookDelivery.objects.filter(delivery_id__in=[r.delivery_id for r in rows])
            .values_list("pk", flat=True))
        transaction.on_commit(lambda: _enqueue_all(ids))
    return rows


def _enqueue_all(ids: list[int]) -> None:
    from webhooks_app.tasks import delivery_enqueue

    for pk in ids:
        delivery_enqueue(pk)


def _lease() -> timedelta:
    """How long a claimed attempt keeps others off: past it, the attempt counts as lost."""
    return timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)


def _claim(pk: int) -> WebhookDelivery | None:
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=pk, status=DeliveryStatus.PENDING).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    ).update(next_attempt_at=now + _lease(), attempts=F("attempts") + 1, last_attempt_at=now)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("webhook").get(pk=pk)


def _send(webhook: Webhook, *, delivery_id: str, body: bytes) -> transport.Outcome:
    if webhook.status != WebhookStatus.ACTIVE:
        return transport.Outcome(None, error="The webhook was disabled before this delivery.")
    try:
        target = transport.destination_check(webhook.url, allowed_networks=_allowed_networks())
    except transport.DestinationRefused as exc:
        return transport.Outcome(None, error=str(exc))
    try:
        secret = secret_open(webhook.secret)
    except SecretUnreadable as exc:
        return transport.Outcome(None, error=str(exc))
    headers = signing.headers(delivery_id=delivery_id, timestamp=int(time.time()),
                              body=body.decode(), secret=secret)
    return transport.post(target, body=body, headers=headers,
                          timeout=settings.WEBHOOK_TIMEOUT_SECONDS)


def delivery_attempt(*, delivery_pk: int) -> WebhookDelivery | None:
    """Try one delivery, once: a delivered, failed or already-claimed one is left alone (a
    repeated message is harmless). A failed try is retried later, up to
    WEBHOOK_MAX_ATTEMPTS tries in all, with exponential backoff and jitter."""
    delivery = _claim(delivery_pk)
    if delivery is None:
        return None
    outcome = _send(delivery.webhook, delivery_id=str(delivery.delivery_id),
                    body=orjson.dumps(delivery.payload))
    return _outcome_record(delivery, outcome)


def _outcome_record(delivery: WebhookDelivery, outcome: transport.Outcome) -> WebhookDelivery:
    now = timezone.now()
    delivery.last_status_code = outcome.status
    delivery.last_error = outcome.error or (
        "" if outcome.delivered else f"The receiver answered {outcome.status}.")
    delivery.last_response = outcome.body
    retry_in: float | None = None
    if outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryStatus.DELIVERED, now, None)
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        retry_in = signing.retry_delay(delivery.attempts, base=settings.WEBHOOK_BACKOFF_SECONDS,
                                       cap=settings.WEBHOOK_BACKOFF_MAX_SECONDS)
        delivery.next_attempt_at = now + timedelta(seconds=retry_in)
    with transaction.atomic():
        delivery.save(update_fields=["status", "delivered_at", "next_attempt_at",
                                     "last_status_code", "last_error", "last_response"])
        if retry_in is not None:
            pk, countdown = delivery.pk, retry_in
            transaction.on_commit(lambda: _enqueue_later(pk, countdown))
    return delivery


def _enqueue_later(pk: int, countdown: float) -> None:
    from webhooks_app.tasks import delivery_enqueue

    delivery_enqueue(pk, countdown=countdown)


def deliveries_retry_now(*, actor: Actor, pks: list[int]) -> int:
    """Give failed or waiting deliveries one more try now (the admin's "retry now"). One
    attempted within the lease may still be in flight: it is left to finish."""
    require_manage(actor)
    now = timezone.now()
    with transaction.atomic():
        count = WebhookDelivery.objects.filter(pk__in=pks).exclude(
            status=DeliveryStatus.DELIVERED).exclude(
            status=DeliveryStatus.PENDING, last_attempt_at__gt=now - _lease()).update(
            status=DeliveryStatus.PENDING, next_attempt_at=now)
        chosen = list(WebhookDelivery.objects.filter(pk__in=pks, status=DeliveryStatus.PENDING)
                      .values_list("pk", flat=True))
        transaction.on_commit(lambda: _enqueue_all(chosen))
    return count


def deliveries_due_enqueue() -> list[int]:
    """Hand overdue pending deliveries to the broker again (Celery beat)."""
    grace = timedelta(seconds=settings.WEBHOOK_SWEEP_SECONDS)
    due = list(selectors.deliveries_due(now=timezone.now(), grace=grace)
               .values_list("pk", flat=True)[:1000])
    _enqueue_all(due)
    return due


def webhook_test(*, actor: Actor, webhook: Webhook, event: Event | None = None
                 ) -> transport.Outcome:
    """Send an example payload of one event now and answer what the receiver said (not
    logged, not retried)."""
    require_manage(actor)
    chosen = event or (webhook.subscribed[0] if webhook.subscribed else
                       Event.MODEL_VERSION_CREATED)
    body = orjson.dumps(payloads.envelope(chosen, payloads.EXAMPLES[chosen], timezone.now()))
    active = Webhook(url=webhook.url, secret=webhook.secret, status=WebhookStatus.ACTIVE)
    return _send(active, delivery_id=str(uuid.uuid4()), body=body)
