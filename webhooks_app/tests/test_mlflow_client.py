"""MLflow 3's webhooks API, driven by the real MlflowClient against a live Axion."""

from __future__ import annotations

import pytest
import requests
from mlflow.exceptions import MlflowException

from webhooks_app.models import Webhook
from webhooks_app.sealing import secret_open
from webhooks_app.tests.conftest import SECRET


@pytest.fixture
def manager_client(client, as_user, release_manager):
    as_user(release_manager)
    return client


@pytest.fixture
def raw(live_server, token_for, release_manager):
    """Plain HTTP as the release manager, to see the exact answers."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token_for(release_manager)}"
    base = f"{live_server.url}/api/2.0/mlflow/webhooks"

    def call(method: str, path: str = "", **kwargs):
        return session.request(method, base + path, timeout=30, **kwargs)

    return call


def test_a_release_manager_creates_reads_updates_and_deletes_a_webhook(manager_client,
                                                                        receiver):
    created = manager_client.create_webhook(
        name="ops-alerts", url=receiver.url, description="to the ops channel", secret=SECRET,
        events=["model_version.created", "model_version_alias.created"])
    assert created.name == "ops-alerts" and created.url == receiver.url
    assert created.description == "to the ops channel" and created.status == "ACTIVE"
    assert sorted(str(e) for e in created.events) == ["model_version.created",
                                                       "model_version_alias.created"]
    assert created.creation_timestamp > 0 and created.secret is None
    fetched = manager_client.get_webhook(created.webhook_id)
    assert (fetched.webhook_id, fetched.name) == (created.webhook_id, "ops-alerts")
    assert [w.webhook_id for w in manager_client.list_webhooks()] == [created.webhook_id]

    updated = manager_client.update_webhook(created.webhook_id, name="ops-quiet",
                                            status="DISABLED", events=["registered_model.created"])
    assert (updated.name, updated.status) == ("ops-quiet", "DISABLED")
    assert [str(e) for e in updated.events] == ["registered_model.created"]
    row = Webhook.objects.get()
    assert (row.events, row.status) == (["registered_model.created"], "DISABLED")
    assert SECRET not in row.secret and secret_open(row.secret) == SECRET  # sealed at rest

    manager_client.delete_webhook(created.webhook_id)
    with pytest.raises(MlflowException) as gone:
        manager_client.get_webhook(created.webhook_id)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert not Webhook.objects.exists()


def test_list_pages_through_webhooks(manager_client, receiver):
    for n in range(3):
        manager_client.create_webhook(name=f"hook-{n}", url=receiver.url,
                                      events=["model_version.created"])
    first = manager_client.list_webhooks(max_results=2)
    assert [w.name for w in first] == ["hook-0", "hook-1"] and first.token
    second = manager_client.list_webhooks(max_results=2, page_token=first.token)
    assert [w.name for w in second] == ["hook-2"] and not second.token


def test_the_secret_is_never_answered(raw, receiver):
    body = {"name": "signed", "url": receiver.url, "secret": SECRET,
            "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}
    created = raw("POST", json=body)
    webhook_id = created.json()["webhook"]["webhook_id"]
    answers = [created, raw("GET"), raw("GET", f"/{webhook_id}"),
               raw("PATCH", f"/{webhook_id}", json={"secret": "rotated-secret"})]
    assert all(a.status_code == 200 for a in answers)
    assert not any(SECRET in a.text or "rotated-secret" in a.text or "secret" in a.json()
                   for a in answers)
    assert secret_open(Webhook.objects.get().secret) == "rotated-secret"


def test_test_webhook_sends_a_signed_example_and_answers_what_the_receiver_said(
        manager_client, receiver):
    hook = manager_client.create_webhook(name="tested", url=receiver.url, secret=SECRET,
                                         events=["model_version_alias.created"])
    result = manager_client.test_webhook(hook.webhook_id)
    assert result.success and result.response_status == 200
    assert result.response_body == '{"ok": true}' and not result.error_message
    (got,) = receiver.received
    assert got.signed
    assert (got.body["entity"], got.body["action"]) == ("model_version_alias", "created")
    assert got.body["data"]["alias"] == "champion"

    from mlflow.entities.webhook import WebhookEvent

    receiver.plan = [500]
    failed = manager_client.test_webhook(hook.webhook_id,
                                         event=WebhookEvent("registered_model", "created"))
    assert not failed.success and failed.response_status == 500
    assert receiver.received[-1].body["entity"] == "registered_model"


def test_test_webhook_reports_an_unreachable_receiver(manager_client, receiver):
    hook = manager_client.create_webhook(name="dead-end", url=receiver.url,
                                         events=["model_version.created"])
    Webhook.objects.update(url="http://127.0.0.1:9/nothing-listens")
    result = manager_client.test_webhook(hook.webhook_id)
    assert not result.success and result.response_status is None
    assert "Connection" in result.error_message or "refused" in result.error_message


@pytest.mark.parametrize("url, words", [
    ("file:///etc/passwd", "scheme 'file'"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
    ("http://10.0.0.7/hook", "WEBHOOK_ALLOWED_NETWORKS"),
    ("http://[::1]:8080/hook", "::1"),
    ("gopher://127.0.0.1:70/", "scheme 'gopher'"),
])
def test_urls_that_would_reach_inside_are_refused(manager_client, url, words):
    with pytest.raises(MlflowException) as refused:
        manager_client.create_webhook(name="bad", url=url, events=["model_version.created"])
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert words in refused.value.message
    assert not Webhook.objects.exists()


def test_updating_to_a_bad_url_is_refused(manager_client, receiver):
    hook = manager_client.create_webhook(name="ok", url=receiver.url,
                                         events=["model_version.created"])
    with pytest.raises(MlflowException, match="scheme 'ftp'"):
        manager_client.update_webhook(hook.webhook_id, url="ftp://files.example.com/")
    assert Webhook.objects.get().url == receiver.url


def test_a_researcher_may_not_see_or_change_webhooks(client, manager_client, as_user,
                                                     researcher, receiver):
    hook = manager_client.create_webhook(name="ops", url=receiver.url,
                                         events=["model_version.created"])
    as_user(researcher)
    attempts = [
        lambda: client.create_webhook(name="mine", url=receiver.url,
                                      events=["model_version.created"]),
        lambda: client.list_webhooks(),
        lambda: client.get_webhook(hook.webhook_id),
        lambda: client.update_webhook(hook.webhook_id, url=receiver.url + "/x"),
        lambda: client.delete_webhook(hook.webhook_id),
        lambda: client.test_webhook(hook.webhook_id),
    ]
    for attempt in attempts:
        with pytest.raises(MlflowException) as refused:
            attempt()
        assert refused.value.error_code == "PERMISSION_DENIED"
        assert "release managers" in refused.value.message
    assert Webhook.objects.get().url == receiver.url and not receiver.received


def test_anonymous_calls_are_refused(live_server):
    for method, path in [("GET", ""), ("POST", ""), ("GET", "/x"), ("DELETE", "/x")]:
        answer = requests.request(method, f"{live_server.url}/api/2.0/mlflow/webhooks{path}",
                                  json={}, timeout=30)
        assert answer.status_code == 401 and answer.json()["error_code"] == "UNAUTHENTICATED"


def test_axion_events_are_subscribed_over_rest_and_kept_out_of_the_clients_view(
        raw, manager_client, receiver):
    axion_only = raw("POST", json={"name": "lifecycle", "url": receiver.url, "events": [
        {"entity": "MODEL_VERSION", "action": "STAGE_CHANGED"},
        {"entity": "registered_model", "action": "rolled_back"}]})
    assert axion_only.status_code == 200
    shown = axion_only.json()["webhook"]
    assert shown["events"] == [] and shown["axion_events"] == [
        {"entity": "MODEL_VERSION", "action": "STAGE_CHANGED"},
        {"entity": "REGISTERED_MODEL", "action": "ROLLED_BACK"}]
    mixed = raw("POST", json={"name": "both", "url": receiver.url, "events": [
        {"entity": "MODEL_VERSION", "action": "CREATED"},
        {"entity": "MODEL_VERSION", "action": "PROMOTION_REFUSED"}]}).json()["webhook"]
    # The client reads what it can name; Axion's events ride along in a field it ignores.
    assert [w.name for w in manager_client.list_webhooks()] == ["both"]
    assert [str(e) for e in manager_client.get_webhook(mixed["webhook_id"]).events] == [
        "model_version.created"]
    every = raw("GET", params={"include_axion_only": "true"}).json()["webhooks"]
    assert [w["name"] for w in every] == ["lifecycle", "both"]


@pytest.mark.parametrize("event, words", [
    ({"entity": "PROMPT", "action": "CREATED"}, "no prompt events"),
    ({"entity": "MODEL_VERSION", "action": "EXPLODED"}, "model_version.stage_changed"),
    ("model_version.created", "an object with 'entity' and 'action'"),
])
def test_unknown_events_are_refused_with_the_list_of_known_ones(raw, receiver, event, words):
    answer = raw("POST", json={"name": "x", "url": receiver.url, "events": [event]})
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert words in answer.json()["message"]


def test_the_ajax_api_prefix_answers_too(live_server, token_for, release_manager, receiver):
    answer = requests.get(f"{live_server.url}/ajax-api/2.0/mlflow/webhooks", timeout=30,
                          headers={"Authorization": f"Bearer {token_for(release_manager)}"})
    assert answer.status_code == 200 and answer.json() == {"webhooks": []}
