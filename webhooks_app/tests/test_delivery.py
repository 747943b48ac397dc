"""Deliveries: written with the event (outbox), sent by a real worker, signed, retried with
backoff, logged, never sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from axion_registry.testing import wait_for
from models_app import services as registry
from models_app.errors import GateRefused
from webhooks_app import services
from webhooks_app.events import Event
from webhooks_app.models import DeliveryStatus, WebhookDelivery, WebhookStatus


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_a_new_version_signed_as_mlflow_signs(
        purged_queue, celery_worker, receiver, make_webhook, register_version):
    make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
    version = register_version("1.0.0", description="first", tags={"team": "quant"})
    (got,) = receiver.wait(1)
    assert got.signed
    assert got.body["entity"] == "model_version" and got.body["action"] == "created"
    assert got.body["data"] == {
        "name": "ranking", "version": "1", "axion_version": "1.0.0",
        "source": "models:/ranking/1", "run_id": None, "tags": {"team": "quant"},
        "description": "first", "stage": "draft"}
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(
        status=DeliveryStatus.DELIVERED).first())
    assert str(delivery.delivery_id) == got.delivery_id
    assert (delivery.attempts, delivery.last_status_code) == (1, 200)
    assert version.pk  # the version committed; its delivery went after


@pytest.mark.django_db(transaction=True)
def test_a_receiver_failing_twice_gets_the_same_delivery_a_third_time(
        purged_queue, celery_worker, receiver, make_webhook, register_version):
    receiver.plan = [500, 503]
    make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
    register_version("1.0.0")
    first, second, third = receiver.wait(3)
    assert first.delivery_id == second.delivery_id == third.delivery_id
    assert all(r.signed for r in (first, second, third))
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(
        status=DeliveryStatus.DELIVERED).first())
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (3, 200, "")


@pytest.mark.django_db(transaction=True)
def test_it_gives_up_after_the_last_attempt_and_logs_why(
        purged_queue, celery_worker, receiver, make_webhook, register_version, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.plan = [500, 500, 500]
    make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
    register_version("1.0.0")
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(
        status=DeliveryStatus.FAILED).first())
    assert (delivery.attempts, delivery.last_status_code) == (2, 500)
    assert "answered 500" in delivery.last_error and delivery.next_attempt_at is None
    assert len(receiver.received) == 2


@pytest.mark.django_db(transaction=True)
def test_the_sweep_re_enqueues_a_delivery_whose_message_was_lost(
        purged_queue, celery_worker, receiver, make_webhook, registered_model):
    hook = make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
    lost = WebhookDelivery.objects.create(  # as if the broker lost its message
        webhook=hook, event=Event.MODEL_VERSION_CREATED, payload={"data": {"name": "x"}},
        next_attempt_at=timezone.now() - timedelta(hours=1))
    assert services.deliveries_due_enqueue() == [lost.pk]
    (got,) = receiver.wait(1)
    assert got.delivery_id == str(lost.delivery_id) and got.signed


@pytest.mark.django_db
class TestOutbox:
    def test_deliveries_are_written_in_the_events_transaction(
            self, receiver, make_webhook, register_version, django_capture_on_commit_callbacks):
        make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
        with django_capture_on_commit_callbacks() as enqueues:
            register_version("1.0.0")
            assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1
        assert enqueues  # handed to the broker only after commit

    def test_a_rolled_back_event_leaves_no_delivery(self, receiver, make_webhook,
                                                    register_version):
        make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
        with pytest.raises(RuntimeError), transaction.atomic():
            register_version("1.0.0")
            raise RuntimeError("the caller's transaction fails after the registration")
        assert not WebhookDelivery.objects.exists()

    def test_disabled_or_unsubscribed_webhooks_get_nothing(self, receiver, make_webhook,
                                                           register_version):
        make_webhook(receiver.url, Event.MODEL_VERSION_CREATED, status=WebhookStatus.DISABLED)
        make_webhook(receiver.url, Event.MODEL_VERSION_ALIAS_CREATED)
        register_version("1.0.0")
        assert not WebhookDelivery.objects.exists()

    def test_an_attempt_is_made_once_per_delivery(self, receiver, make_webhook,
                                                  register_version):
        make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
        register_version("1.0.0")
        delivery = WebhookDelivery.objects.get()
        assert services.delivery_attempt(delivery_pk=delivery.pk).status == "delivered"
        assert services.delivery_attempt(delivery_pk=delivery.pk) is None  # a repeated message
        assert len(receiver.received) == 1

    def test_a_redirect_is_not_followed(self, receiver, make_webhook, register_version):
        receiver.plan = [302]
        receiver.headers = {302: {"Location": "http://169.254.169.254/latest/meta-data"}}
        make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
        register_version("1.0.0")
        delivery = services.delivery_attempt(delivery_pk=WebhookDelivery.objects.get().pk)
        assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 302
        assert "do not follow redirects" in delivery.last_error
        assert len(receiver.received) == 1

    def test_a_secret_sealed_with_another_key_fails_the_attempt_saying_so(
            self, receiver, make_webhook, register_version, settings):
        make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
        settings.WEBHOOK_SECRET_KEY = "a key the secret was not sealed with"
        register_version("1.0.0")
        delivery = services.delivery_attempt(delivery_pk=WebhookDelivery.objects.get().pk)
        assert "set the webhook's secret again" in delivery.last_error
        assert delivery.status == DeliveryStatus.PENDING and not receiver.received

    def test_a_url_that_turned_private_is_refused_at_delivery(
            self, receiver, make_webhook, register_version, settings):
        make_webhook(receiver.url, Event.MODEL_VERSION_CREATED)
        settings.WEBHOOK_ALLOWED_NETWORKS = []
        register_version("1.0.0")
        delivery = services.delivery_attempt(delivery_pk=WebhookDelivery.objects.get().pk)
        assert "loopback, private or reserved" in delivery.last_error
        assert delivery.last_status_code is None and not receiver.received


def _events(event: Event) -> list[dict]:
    return [d.payload["data"] for d in WebhookDelivery.objects.filter(event=event)
            .order_by("pk")]


@pytest.mark.django_db
class TestAxionEvents:
    def test_promotion_and_rollback_announce_each_move(self, receiver, make_webhook,
                                                       register_version, release_manager):
        make_webhook(receiver.url)
        first, second = register_version("1.0.0"), register_version("1.1.0")
        for version in (first, second):
            registry.version_transition(version=version, to="staging", actor=release_manager)
        registry.version_promote(version=first, actor=release_manager)
        registry.version_promote(version=second, actor=release_manager, reason="better")
        registry.model_rollback(model=first.model, actor=release_manager, reason="latency")
        moves = [(m["axion_version"], m["from_stage"], m["to_stage"], m["kind"])
                 for m in _events(Event.MODEL_VERSION_STAGE_CHANGED)]
        assert moves == [
            ("1.0.0", "draft", "staging", "submit"),
            ("1.1.0", "draft", "staging", "submit"),
            ("1.0.0", "staging", "production", "promote"),
            ("1.0.0", "production", "archived", "archive"),
            ("1.1.0", "staging", "production", "promote"),
            ("1.1.0", "production", "archived", "archive"),
            ("1.0.0", "archived", "production", "rollback"),
        ]
        (rollback,) = _events(Event.REGISTERED_MODEL_ROLLED_BACK)
        assert rollback["axion_version"] == "1.0.0"
        assert rollback["replaced_axion_version"] == "1.1.0"
        assert rollback["actor"] == "max_release" and rollback["reason"] == "latency"
        assert [d["axion_version"] for d in _events(Event.MODEL_VERSION_CREATED)] == [
            "1.0.0", "1.1.0"]

    def test_a_refused_promotion_is_announced_with_its_gate_report(
            self, receiver, make_webhook, register_version, registered_model, release_manager):
        registry.model_update(model=registered_model, actor=release_manager, gates={
            "load_check": False,
            "thresholds": [{"metric": "auc", "op": ">=", "value": 0.9}]})
        make_webhook(receiver.url, Event.MODEL_VERSION_PROMOTION_REFUSED,
                     Event.MODEL_VERSION_STAGE_CHANGED)
        version = register_version("1.0.0", metrics={"auc": 0.6})
        registry.version_transition(version=version, to="staging", actor=release_manager)
        WebhookDelivery.objects.all().delete()
        with pytest.raises(GateRefused):
            registry.version_promote(version=version, actor=release_manager)
        (refused,) = _events(Event.MODEL_VERSION_PROMOTION_REFUSED)
        assert refused["to_stage"] == "production" and refused["stage"] == "staging"
        assert "may not enter production" in refused["message"]
        assert any(not gate["passed"] for gate in refused["gate_report"])
        assert not _events(Event.MODEL_VERSION_STAGE_CHANGED)  # nothing moved

    def test_a_new_model_is_announced_with_mlflows_fields(self, receiver, make_webhook,
                                                          researcher):
        make_webhook(receiver.url, Event.REGISTERED_MODEL_CREATED)
        registry.model_create(name="regime", description="Market regime", owner=researcher,
                              tags={"desk": "macro"})
        assert _events(Event.REGISTERED_MODEL_CREATED) == [
            {"name": "regime", "tags": {"desk": "macro"}, "description": "Market regime"}]


@pytest.mark.django_db
class TestTagEvents:
    def test_each_version_tag_set_changed_or_removed_is_one_event(
            self, receiver, make_webhook, register_version, researcher):
        from models_app.services import version_update

        make_webhook(receiver.url, Event.MODEL_VERSION_TAG_SET,
                     Event.MODEL_VERSION_TAG_DELETED)
        version = register_version("1.0.0")
        owner = version.model.owner or researcher
        version_update(version=version, actor=owner, tags={"team": "quant", "gpu": "a100"})
        version_update(version=version, actor=owner, tags={"team": "risk"})
        version_update(version=version, actor=owner, tags={"team": "risk"})  # no change
        base = {"name": "ranking", "version": "1", "axion_version": "1.0.0"}
        assert sorted(_events(Event.MODEL_VERSION_TAG_SET), key=str) == sorted([
            {**base, "key": "team", "value": "quant"}, {**base, "key": "gpu", "value": "a100"},
            {**base, "key": "team", "value": "risk"}], key=str)
        assert _events(Event.MODEL_VERSION_TAG_DELETED) == [{**base, "key": "gpu"}]


@pytest.mark.django_db
class TestAliasEvents:
    def test_setting_moving_and_deleting_an_alias_are_announced(
            self, receiver, make_webhook, register_version, release_manager):
        from models_app.services.aliases import alias_delete, alias_set

        make_webhook(receiver.url, Event.MODEL_VERSION_ALIAS_CREATED,
                     Event.MODEL_VERSION_ALIAS_DELETED)
        first, second = register_version("1.0.0"), register_version("1.1.0")
        alias_set(model=first.model, alias="champion", version=first, actor=release_manager)
        alias_set(model=first.model, alias="champion", version=second, actor=release_manager)
        alias_delete(model=first.model, alias="champion", actor=release_manager)
        assert _events(Event.MODEL_VERSION_ALIAS_CREATED) == [
            {"name": "ranking", "alias": "champion", "version": "1", "axion_version": "1.0.0",
             "actor": "max_release", "source": "api"},
            {"name": "ranking", "alias": "champion", "version": "2", "axion_version": "1.1.0",
             "previous_axion_version": "1.0.0", "actor": "max_release", "source": "api"}]
        assert _events(Event.MODEL_VERSION_ALIAS_DELETED) == [
            {"name": "ranking", "alias": "champion", "previous_axion_version": "1.1.0",
             "actor": "max_release", "source": "api"}]

    def test_an_alias_change_that_rolls_back_announces_nothing(
            self, receiver, make_webhook, register_version, release_manager):
        from models_app.services.aliases import alias_set

        make_webhook(receiver.url, Event.MODEL_VERSION_ALIAS_CREATED)
        version = register_version("1.0.0")
        with pytest.raises(RuntimeError), transaction.atomic():
            alias_set(model=version.model, alias="champion", version=version,
                      actor=release_manager)
            raise RuntimeError("rolled back")
        assert not WebhookDelivery.objects.exists()
