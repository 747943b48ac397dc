"""Webhooks and their delivery log (an outbox: a delivery row is written in the transaction
of the event it announces, then sent by a worker)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from webhooks_app.events import Event


class WebhookStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Webhook(models.Model):
    webhook_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=63)
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list, help_text="Event names, e.g. model_version.created")
    description = models.TextField(blank=True)
    # The signing key, sealed with the server's key (webhooks_app.sealing): signing needs it
    # back, so it is not hashed. Never answered by the API or shown in the admin.
    secret = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=WebhookStatus.choices,
                              default=WebhookStatus.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhooks"
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.name} -> {self.url}"

    @property
    def subscribed(self) -> list[Event]:
        return [Event(name) for name in self.events if name in Event._value2member_map_]

    def listens_to(self, event: Event) -> bool:
        return self.status == WebhookStatus.ACTIVE and event.value in self.events


class WebhookDelivery(models.Model):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # The same id on every attempt: receivers drop a repeat they already handled.
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=64, choices=[(e.value, e.value) for e in Event])
    payload = models.JSONField(help_text="The body sent: entity, action, timestamp, data.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When a worker may try next (pushed ahead while an attempt is under way).")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_response = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"],
                                name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook.name} ({self.status})"
