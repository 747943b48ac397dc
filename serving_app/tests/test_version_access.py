"""Who may ask the prediction API for a version by number or stage name."""

from __future__ import annotations

import pytest

from abtest_app import services as abtests
from models_app import services as registry
from serving_app.tests.mock_models import ConstantModel

pytestmark = pytest.mark.django_db

URL = "/api/v1/serve/ranking/predict/"
ROWS = [{"f0": 1.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]


def ask(client, version, *, query=False):
    if query:
        return client.post(f"{URL}?version={version}", {"records": ROWS}, format="json")
    return client.post(URL, {"records": ROWS, "version": version}, format="json")


@pytest.mark.parametrize("query", [False, True])
def test_a_researcher_may_not_serve_a_draft_by_number(runtime, deploy, api, query):
    deploy(ConstantModel(1.0), "1.0.0")
    deploy(ConstantModel(2.0), "1.1.0", promote=False)
    response = ask(api, "1.1.0", query=query)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "version_not_permitted"
    assert "draft" in body["message"] and "release managers" in body["message"]


def test_a_release_manager_serves_a_draft(runtime, deploy, manager_api):
    deploy(ConstantModel(1.0), "1.0.0")
    deploy(ConstantModel(2.0), "1.1.0", promote=False)
    assert ask(manager_api, "1.1.0").json()["predictions"] == [2.0]


def test_staging_and_production_are_open_to_anyone_signed_in(runtime, deploy, api,
                                                             release_manager):
    deploy(ConstantModel(1.0), "1.0.0")
    staged = deploy(ConstantModel(2.0), "1.1.0", promote=False)
    registry.version_transition(version=staged, to="staging", actor=release_manager)
    assert ask(api, "1.1.0").json()["predictions"] == [2.0]
    assert ask(api, "staging").json()["predictions"] == [2.0]
    assert ask(api, "1.0.0").json()["predictions"] == [1.0]
    assert ask(api, "production").json()["predictions"] == [1.0]


def test_draft_archived_and_deprecated_by_stage_name_need_a_release_manager(
        runtime, deploy, api, manager_api):
    deploy(ConstantModel(1.0), "1.0.0")
    deploy(ConstantModel(2.0), "1.1.0", promote=False)
    for stage in ("draft", "archived", "deprecated"):
        assert ask(api, stage).status_code == 403
    assert ask(manager_api, "draft").json()["predictions"] == [2.0]


def test_an_archived_version_by_number_needs_a_release_manager(runtime, deploy, api,
                                                               manager_api):
    deploy(ConstantModel(1.0), "1.0.0")
    deploy(ConstantModel(2.0), "1.1.0")  # archives 1.0.0
    assert ask(api, "1.0.0").status_code == 403
    assert ask(manager_api, "1.0.0").json()["predictions"] == [1.0]


def test_a_draft_challenger_of_a_running_test_is_open(runtime, deploy, api, researcher,
                                                      release_manager):
    champion = deploy(ConstantModel(1.0), "1.0.0")
    challenger = deploy(ConstantModel(2.0), "1.1.0", promote=False)
    test = abtests.abtest_create(
        name="t", model=champion.model, champion=champion, challenger=challenger,
        metric_name="m", metric_type="continuous", created_by=researcher)
    assert ask(api, "1.1.0").status_code == 403
    abtests.abtest_start(test=test, actor=release_manager)
    assert ask(api, "1.1.0").json()["predictions"] == [2.0]
    abtests.abtest_pause(test=test, actor=release_manager)
    assert ask(api, "1.1.0").status_code == 403


def test_an_unknown_version_is_still_a_404(runtime, deploy, api):
    deploy(ConstantModel(1.0), "1.0.0")
    assert ask(api, "9.9.9").status_code == 404
