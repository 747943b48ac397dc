"""Only a run's owner (or a superuser) changes it; experiments likewise; anyone adds runs."""

from __future__ import annotations

from io import BytesIO

import pytest

from conftest import _client_for
from experiments_app import services
from experiments_app.errors import ExperimentNotPermitted, RunNotPermitted
from experiments_app.models import Experiment, LatestMetric, Param, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def stranger(make_user):
    return _client_for(make_user("sam_stranger"))


@pytest.fixture
def admin_api(make_user):
    return _client_for(make_user("ada_admin", superuser=True))


def attempts(run_id: str) -> list[tuple[str, dict]]:
    """Every write to a run, as (path, body)."""
    base = f"/api/v1/runs/{run_id}"
    return [
        (f"{base}/log-metric/", {"key": "auc", "value": 0.1}),
        (f"{base}/log-param/", {"key": "lr", "value": "9"}),
        (f"{base}/log-batch/", {"metrics": [{"key": "auc", "value": 0.1, "step": 1,
                                             "timestamp": 1}]}),
        (f"{base}/set-tag/", {"key": "owner", "value": "me"}),
        (f"{base}/delete-tag/", {"key": "team"}),
        (f"{base}/end/", {"status": "killed"}),
    ]


def test_another_user_may_not_write_to_a_run(start_run, stranger, artifact_root):
    run = start_run(tags={"team": "quant"})
    for path, body in attempts(run["run_id"]):
        response = stranger.post(path, body, format="json")
        assert response.status_code == 403, path
        assert response.json()["code"] == "run_not_permitted"
        assert "started it" in response.json()["message"]
    renamed = stranger.patch(f"/api/v1/runs/{run['run_id']}/", {"name": "mine"}, format="json")
    assert renamed.status_code == 403
    stream = BytesIO(b"weights")
    stream.name = "model.pkl"
    uploaded = stranger.post(f"/api/v1/runs/{run['run_id']}/artifacts/",
                             {"file": stream, "path": ""}, format="multipart")
    assert uploaded.status_code == 403
    row = Run.objects.get(run_id=run["run_id"])
    assert (row.status, row.name, row.tags) == ("running", run["name"], {"team": "quant"})
    assert not LatestMetric.objects.exists() and not Param.objects.exists()
    assert not any(artifact_root.rglob("*.pkl"))


@pytest.mark.parametrize("client", ["api", "admin_api"])
def test_the_owner_and_a_superuser_may(request, start_run, client):
    run = start_run(tags={"team": "quant"})
    writer = request.getfixturevalue(client)
    for path, body in attempts(run["run_id"]):
        assert writer.post(path, body, format="json").status_code in (200, 201), path
    assert Run.objects.get(run_id=run["run_id"]).status == "killed"


def test_the_services_refuse_another_user(start_run, make_user):
    run = Run.objects.get(run_id=start_run()["run_id"])
    other = make_user("sam_stranger")
    with pytest.raises(RunNotPermitted):
        services.metric_log(run_id=run.run_id, key="auc", value=1.0, actor=other)
    with pytest.raises(RunNotPermitted):
        services.run_end(run=run, actor=other)
    with pytest.raises(RunNotPermitted):
        services.tags_set(run=run, tags={"a": "b"}, actor=other)


def test_anyone_signed_in_may_start_a_run_in_someone_elses_experiment(start_run, stranger):
    start_run("shared")
    response = stranger.post("/api/v1/runs/", {"experiment": "shared"}, format="json")
    assert response.status_code == 201
    assert response.json()["user"] == "sam_stranger"


def test_an_experiment_belongs_to_who_created_it(api, start_run, stranger, researcher):
    created = api.post("/api/v1/experiments/", {"name": "mine"}, format="json").json()
    assert created["owner"] == "rita_researcher"
    start_run("by-name")  # a new name through a run creates it, owned by the run's user
    by_name = Experiment.objects.get(name="by-name")
    assert by_name.owner == researcher
    refused = stranger.patch(f"/api/v1/experiments/{created['id']}/",
                             {"tags": {"x": "y"}, "archived": True}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "experiment_not_permitted"
    assert Experiment.objects.get(pk=created["id"]).archived is False
    done = api.patch(f"/api/v1/experiments/{created['id']}/", {"archived": True},
                     format="json")
    assert done.json()["archived"] is True


def test_the_experiment_service_refuses_another_user(make_user, researcher):
    experiment = services.experiment_create(name="x", owner=researcher)
    with pytest.raises(ExperimentNotPermitted):
        services.experiment_update(experiment=experiment, description="no",
                                   actor=make_user("sam_stranger"))


def test_the_admin_edits_experiments_through_the_ownership_rule(client, researcher,
                                                                make_user):
    from django.contrib.auth.models import Permission

    experiment = services.experiment_create(name="x", owner=researcher)
    other = make_user("sam_stranger")
    other.is_staff = True
    other.save()
    other.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_experiment", "change_experiment"]))
    client.force_login(other)
    client.post(f"/admin/experiments_app/experiment/{experiment.pk}/change/",
                {"description": "taken over", "tags": "{}", "archived": "on"})
    experiment.refresh_from_db()
    assert (experiment.description, experiment.archived) == ("", False)
