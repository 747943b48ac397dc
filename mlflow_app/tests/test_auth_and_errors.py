"""Who may call, and every refusal in MLflow's {"error_code", "message"} shape."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

API = "/api/2.0/mlflow"


def call(live_server, method: str, path: str, *, headers=None, **kwargs) -> requests.Response:
    return requests.request(method, f"{live_server.url}{path}", headers=headers or {},
                            timeout=10, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(username: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic !!!"},
    {"Authorization": "Digest abc"},
])
def test_anonymous_and_unknown_callers_get_a_401_in_mlflow_shape(live_server, headers, db):
    for method, path in [("GET", f"{API}/experiments/get-by-name?experiment_name=x"),
                         ("POST", f"{API}/runs/create"),
                         ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=runs/x")]:
        response = call(live_server, method, path, headers=headers, json={})
        assert response.status_code == 401, response.text
        assert response.json()["error_code"] == "UNAUTHENTICATED"
        assert response.json()["message"]


def test_the_client_without_credentials_raises_unauthenticated(tracking, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    with pytest.raises(MlflowException) as caught:
        tracking.set_experiment("ranking-lgbm")
    assert caught.value.error_code == "UNAUTHENTICATED"


def test_basic_auth_takes_an_axion_username_and_password(tracking, client, monkeypatch, api,
                                                          researcher):
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "rita_researcher")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    experiment_id = tracking.set_experiment("ranking-lgbm").experiment_id
    with tracking.start_run() as run:
        tracking.log_metric("loss", 0.5)
    assert api.get(f"/api/v1/runs/{run.info.run_id}/").json()["user"] == "rita_researcher"
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with pytest.raises(MlflowException) as caught:
        client.get_experiment(experiment_id)
    assert caught.value.error_code == "UNAUTHENTICATED"


def test_an_inactive_users_password_is_refused(live_server, researcher):
    researcher.is_active = False
    researcher.save()
    response = call(live_server, "GET", f"{API}/experiments/get?experiment_id=1",
                    headers=basic("rita_researcher", "pw"))
    assert response.status_code == 401


def test_server_info_answers_without_login(live_server, db):
    response = call(live_server, "GET", "/api/3.0/mlflow/server-info")
    assert response.status_code == 200
    assert response.json()["workspaces_enabled"] is False


def test_only_the_runs_owner_logs_ends_deletes_it(tracking, client, as_user, make_user,
                                                  researcher, api):
    run_id = client.create_run(client.create_experiment("ranking-lgbm")).info.run_id
    as_user(make_user("otto_other"))
    for action in (lambda: client.log_metric(run_id, "loss", 1.0),
                   lambda: client.log_param(run_id, "lr", "1"),
                   lambda: client.set_tag(run_id, "t", "v"),
                   lambda: client.log_batch(run_id, metrics=[Metric("loss", 1.0, 0, 0)]),
                   lambda: client.set_terminated(run_id, "KILLED"),
                   lambda: client.delete_run(run_id)):
        with pytest.raises(MlflowException) as caught:
            action()
        assert caught.value.error_code == "PERMISSION_DENIED", caught.value.message
    assert client.get_run(run_id).info.status == "RUNNING"  # anyone signed in reads
    as_user(researcher)
    assert api.get(f"/api/v1/runs/{run_id}/").json()["status"] == "running"


def test_only_the_experiments_owner_tags_renames_deletes_it(tracking, client, as_user,
                                                           make_user):
    experiment_id = client.create_experiment("ranking-lgbm")
    as_user(make_user("otto_other"))
    for action in (lambda: client.set_experiment_tag(experiment_id, "t", "v"),
                   lambda: client.rename_experiment(experiment_id, "mine-now"),
                   lambda: client.delete_experiment(experiment_id)):
        with pytest.raises(MlflowException) as caught:
            action()
        assert caught.value.error_code == "PERMISSION_DENIED"
    run = client.create_run(experiment_id)  # runs of one's own may still go in it
    assert run.info.user_id == "otto_other"


def test_a_superuser_may_change_anyones_run(tracking, client, as_user, make_user):
    run_id = client.create_run(client.create_experiment("ranking-lgbm")).info.run_id
    as_user(make_user("sam_super", superuser=True))
    client.set_terminated(run_id, "KILLED")
    assert client.get_run(run_id).info.status == "KILLED"


@pytest.mark.parametrize("action, code", [
    (lambda c: c.get_run("0" * 32), "RESOURCE_DOES_NOT_EXIST"),
    (lambda c: c.get_experiment("999999"), "RESOURCE_DOES_NOT_EXIST"),
    (lambda c: c.get_experiment_by_name("nope"), None),
    (lambda c: c.create_experiment("ranking-lgbm"), "RESOURCE_ALREADY_EXISTS"),
    (lambda c: c.create_experiment("12345"), "INVALID_PARAMETER_VALUE"),
    (lambda c: c.search_runs(["1"], "metrics.loss <"), "INVALID_PARAMETER_VALUE"),
    (lambda c: c.search_experiments(filter_string="owner = 'x'"), "INVALID_PARAMETER_VALUE"),
])
def test_refusals_carry_mlflows_error_codes(tracking, client, action, code):
    client.create_experiment("ranking-lgbm")
    if code is None:
        assert action(client) is None  # the client turns the 404 into None
        return
    with pytest.raises(MlflowException) as caught:
        action(client)
    assert caught.value.error_code == code


def test_a_param_logged_twice_with_another_value_is_invalid(tracking, client):
    run_id = client.create_run(client.create_experiment("ranking-lgbm")).info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")  # the same value again is fine
    with pytest.raises(MlflowException) as caught:
        client.log_param(run_id, "lr", "0.2")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("method, path, body, status, code", [
    ("POST", f"{API}/runs/create", b"not json", 400, "INVALID_PARAMETER_VALUE"),
    ("POST", f"{API}/runs/create", b"[1, 2]", 400, "INVALID_PARAMETER_VALUE"),
    ("POST", f"{API}/runs/log-metric", b'{"run_id": "x", "key": "k", "value": 1}', 404,
     "RESOURCE_DOES_NOT_EXIST"),
    ("POST", f"{API}/runs/log-metric", b'{"key": "k"}', 400, "INVALID_PARAMETER_VALUE"),
    ("POST", f"{API}/runs/search", b'{"experiment_ids": ["1"], "max_results": 0}', 400,
     "INVALID_PARAMETER_VALUE"),
    ("POST", f"{API}/runs/search", b'{"experiment_ids": "1", "max_results": "many"}', 400,
     "INVALID_PARAMETER_VALUE"),
    ("POST", f"{API}/runs/update", b'{"run_id": "x", "status": "SCHEDULED"}', 404,
     "RESOURCE_DOES_NOT_EXIST"),
    ("GET", f"{API}/runs/create", None, 405, "ENDPOINT_NOT_FOUND"),
    ("POST", f"{API}/scorers/list", b"{}", 404, "ENDPOINT_NOT_FOUND"),
    ("POST", f"{API}/registered-models/create", b"{}", 400, "INVALID_PARAMETER_VALUE"),
    ("GET", f"{API}/registered-models/search?max_results=5000", None, 400,
     "INVALID_PARAMETER_VALUE"),
    ("GET", f"{API}/model-versions/search?page_token=%25%25", None, 400,
     "INVALID_PARAMETER_VALUE"),
    ("GET", f"{API}/model-versions/get?name=nope&version=1", None, 404,
     "RESOURCE_DOES_NOT_EXIST"),
    ("PATCH", f"{API}/model-versions/update", b'{"name": 3}', 400, "INVALID_PARAMETER_VALUE"),
    ("POST", f"{API}/experiments/search", b'{"view_type": "SOME"}', 400,
     "INVALID_PARAMETER_VALUE"),
    ("POST", f"{API}/experiments/search", b'{"page_token": "%%%"}', 400,
     "INVALID_PARAMETER_VALUE"),
    ("GET", f"{API}/metrics/get-history?run_id=x", None, 400, "INVALID_PARAMETER_VALUE"),
])
def test_malformed_requests_are_4xx_never_500(live_server, researcher, token_for, method, path,
                                              body, status, code):
    response = call(live_server, method, path, headers=bearer(token_for(researcher)),
                    data=body)
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code


def test_the_mlflow_batch_keeps_mlflows_limit_of_1000_metrics(live_server, client, researcher,
                                                              token_for):
    """Axion's own log-batch takes 10,000 metrics; MLflow's protocol answers past 1,000 as
    mlflow server does, and logs nothing of the batch."""
    run_id = client.create_run(client.create_experiment("ranking-lgbm")).info.run_id
    metrics = [{"key": "loss", "value": 0.5, "step": step, "timestamp": 1} for step in range(1001)]
    response = call(live_server, "POST", f"{API}/runs/log-batch",
                    headers=bearer(token_for(researcher)),
                    data=json.dumps({"run_id": run_id, "metrics": metrics}).encode())
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "1001 metrics" in response.json()["message"]
    assert client.get_metric_history(run_id, "loss") == []
    client.log_batch(run_id, metrics=[Metric("loss", 0.5, 1, step) for step in range(1000)])
    assert len(client.get_metric_history(run_id, "loss")) == 1000


def test_a_nul_byte_is_stored_or_refused_never_a_500(live_server, researcher, token_for):
    response = call(live_server, "POST", f"{API}/experiments/create",
                    headers=bearer(token_for(researcher)), data=b'{"name": "a\\u0000b"}')
    assert response.status_code in (200, 400), response.text  # PostgreSQL's text refuses it
    if response.status_code == 400:
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
def test_each_call_gets_its_own_user_instance_though_the_credentials_are_cached(
        rf, researcher, token_for, scheme):
    from mlflow_app.auth import request_user

    header = (bearer(token_for(researcher)) if scheme == "bearer"
              else basic("rita_researcher", "pw"))["Authorization"]
    first = request_user(rf.get("/", HTTP_AUTHORIZATION=header))
    second = request_user(rf.get("/", HTTP_AUTHORIZATION=header))
    assert first.pk == second.pk == researcher.pk
    first.marker = "set by one request"
    assert first is not second and not hasattr(second, "marker")
