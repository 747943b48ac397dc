"""The admin: webhooks with a write-only secret, the delivery log read-only with a retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from webhooks_app import services
from webhooks_app.events import Event
from webhooks_app.models import DeliveryStatus, Webhook, WebhookDelivery
from webhooks_app.sealing import secret_open
from webhooks_app.tests.conftest import SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_for(release_manager):
    browser = Client()
    browser.force_login(release_manager)
    return browser


def form(url: str, **fields) -> dict:
    return {"name": "ops", "url": url, "events": ["model_version.created"],
            "description": "", "secret": "", "status": "ACTIVE", **fields}


def test_a_release_manager_adds_a_webhook_whose_secret_is_never_shown(admin_for, receiver,
                                                                       release_manager):
    answer = admin_for.post("/admin/webhooks_app/webhook/add/", form(receiver.url,
                                                                      secret=SECRET))
    assert answer.status_code == 302
    hook = Webhook.objects.get()
    assert (secret_open(hook.secret), hook.created_by, hook.events) == (
        SECRET, release_manager, ["model_version.created"])
    page = admin_for.get(f"/admin/webhooks_app/webhook/{hook.pk}/change/").content.decode()
    assert SECRET not in page and "Never shown" in page
    admin_for.post(f"/admin/webhooks_app/webhook/{hook.pk}/change/",
                   form(receiver.url, name="ops-renamed"))
    hook.refresh_from_db()
    assert (hook.name, secret_open(hook.secret)) == ("ops-renamed", SECRET)  # blank: kept


def test_the_admin_refuses_a_url_pointing_inside(admin_for):
    page = admin_for.post("/admin/webhooks_app/webhook/add/",
                          form("http://169.254.169.254/latest/")).content.decode()
    assert "loopback, private or reserved" in page and not Webhook.objects.exists()


def test_a_user_who_is_neither_staff_nor_release_manager_sees_no_webhooks(researcher):
    browser = Client()
    researcher.is_staff = False
    researcher.save()
    browser.force_login(researcher)
    assert browser.get("/admin/webhooks_app/webhookdelivery/").status_code == 302  # to login


def test_the_delivery_log_is_read_only_and_retry_now_gives_a_failed_one_another_try(
        admin_for, receiver, make_webhook, django_capture_on_commit_callbacks):
    hook = make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
    failed = WebhookDelivery.objects.create(
        webhook=hook, event=Event.MODEL_VERSION_CREATED, payload={"data": {}},
        status=DeliveryStatus.FAILED, attempts=4, last_status_code=500,
        last_error="The receiver answered 500.")
    listing = admin_for.get("/admin/webhooks_app/webhookdelivery/?status=failed").content
    assert receiver.url.encode() in listing and b"model_version.created" in listing
    change = admin_for.get(f"/admin/webhooks_app/webhookdelivery/{failed.pk}/change/")
    assert b'name="_save"' not in change.content  # nothing to edit
    with django_capture_on_commit_callbacks() as enqueued:
        admin_for.post("/admin/webhooks_app/webhookdelivery/",
                       {"action": "retry_now", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.PENDING and failed.next_attempt_at <= timezone.now()
    assert enqueued
    assert services.delivery_attempt(delivery_pk=failed.pk).status == DeliveryStatus.DELIVERED
    assert failed.delivery_id and str(failed.delivery_id) == receiver.received[0].delivery_id


def test_retry_now_leaves_an_attempt_in_flight_alone(admin_for, receiver, make_webhook,
                                                     release_manager):
    hook = make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
    claimed_at = timezone.now()
    in_flight = WebhookDelivery.objects.create(
        webhook=hook, event=Event.MODEL_VERSION_CREATED, payload={"data": {}}, attempts=1,
        last_attempt_at=claimed_at, next_attempt_at=claimed_at + timedelta(seconds=40))
    assert services.deliveries_retry_now(actor=release_manager, pks=[in_flight.pk]) == 0
    in_flight.refresh_from_db()
    assert in_flight.next_attempt_at == claimed_at + timedelta(seconds=40)
